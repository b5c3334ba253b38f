"""DRF parsers of every JSON body the service reads (the ingestion endpoints and the
schema-registry API): JSON as ``application/json`` or ``text/plain`` (as ``navigator.sendBeacon``
sends it), optionally gzip-encoded, within the configured limits (size after decompression,
depth, text UTF-8 can hold)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from eventcapture.parsing import body_read, json_parse


class LimitedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        request = (parser_context or {}).get("request")
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "") if request is not None else ""
        raw = body_read(stream, content_encoding=encoding, max_bytes=settings.MAX_REQUEST_BYTES)
        if request is not None:
            # How large the body is, decompressed: what bounds the size of the events it holds.
            request.body_bytes = len(raw)
        return json_parse(raw, max_depth=settings.MAX_JSON_DEPTH)


class LimitedTextJSONParser(LimitedJSONParser):
    media_type = "text/plain"
