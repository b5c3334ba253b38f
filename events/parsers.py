from __future__ import annotations

from rest_framework.parsers import JSONParser


class PlainTextJSONParser(JSONParser):
    """JSON sent as ``text/plain``, as ``navigator.sendBeacon`` does."""

    media_type = "text/plain"
