"""DRF parsers of every body the service reads (the ingestion endpoints and the schema-registry
API): JSON as ``application/json`` or ``text/plain`` (as ``navigator.sendBeacon`` sends it), and
``multipart/mixed`` (xAPI statements with their attachments' data), optionally gzip-encoded, within
the configured limits (size after decompression, depth, text UTF-8 can hold)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from eventcapture.parsing import BodyPart, body_read, json_parse, multipart_read

# Parts a multipart body may hold: far more than xAPI clients send (a part for the statements, one
# per attachment's data), few enough that no body costs the parser more than a few milliseconds.
MAX_MULTIPART_PARTS = 1000


def _body(stream: Any, parser_context: Mapping[str, Any] | None) -> bytes:
    request = (parser_context or {}).get("request")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "") if request is not None else ""
    raw = body_read(stream, content_encoding=encoding, max_bytes=settings.MAX_REQUEST_BYTES)
    if request is not None:
        # How large the body is, decompressed: what bounds the size of the events it holds.
        request.body_bytes = len(raw)
    return raw


class LimitedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        return json_parse(_body(stream, parser_context), max_depth=settings.MAX_JSON_DEPTH)


class LimitedTextJSONParser(LimitedJSONParser):
    media_type = "text/plain"


@dataclass(frozen=True)
class MultipartBody:
    """A ``multipart/mixed`` body, as ``request.data``: its parts, in order."""

    parts: list[BodyPart]


class LimitedMultipartParser(BaseParser):
    """``multipart/mixed`` (RFC 2046): the whole body is read within ``MAX_REQUEST_BYTES`` (after
    decompression) before it is split into its parts; what the parts mean is the view's to say."""

    media_type = "multipart/mixed"

    # Any, as DRF's own parsers return: a MultipartBody is neither a mapping nor DataAndFiles.
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        raw = _body(stream, parser_context)
        return MultipartBody(parts=multipart_read(raw, content_type=media_type or "", max_parts=MAX_MULTIPART_PARTS))
