"""Content types of the schema-registry API: Confluent's JSON in, Confluent's JSON out.

Every response is ``application/vnd.schemaregistry.v1+json`` whatever the client's ``Accept`` or
``?format=`` says: Confluent clients put ``format`` in the query string for the *schema* format,
which DRF would otherwise read as a renderer override and answer 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from eventcapture.parsers import LimitedJSONParser

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryRenderer(JSONRenderer):
    media_type = CONTENT_TYPE


# Bodies are read as the events API reads them: at most MAX_REQUEST_BYTES (after gzip too), at
# most MAX_JSON_DEPTH deep, and text UTF-8 can hold.
class SchemaRegistryV1Parser(LimitedJSONParser):
    media_type = CONTENT_TYPE


class SchemaRegistryParser(LimitedJSONParser):
    media_type = "application/vnd.schemaregistry+json"


class OctetStreamJSONParser(LimitedJSONParser):
    """JSON sent as ``application/octet-stream``, as some registry clients and scripts do."""

    media_type = "application/octet-stream"


PARSER_CLASSES: Sequence[type[BaseParser]] = (
    SchemaRegistryV1Parser,
    SchemaRegistryParser,
    LimitedJSONParser,
    OctetStreamJSONParser,
)


class SchemaRegistryNegotiation(DefaultContentNegotiation):
    """DRF's parser choice; always the one renderer, ignoring ``Accept`` and ``?format=``."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, Any]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type
