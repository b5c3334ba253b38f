"""The ingestion endpoints' answers as JSON, written by orjson (several times faster than the
standard library's encoder for the ids of a large batch)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.utils.encoders import JSONEncoder

# What orjson does not know itself (lazy translations, say) is written as DRF would write it.
_drf_default = JSONEncoder().default


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_drf_default)


class JsonAnswers(DefaultContentNegotiation):
    """The ingestion endpoints answer JSON whatever a client's Accept header says (a beacon sends
    ``*/*``, old clients anything), so the header is not parsed on every request; the parser is
    still chosen by Content-Type (415 for others)."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type
