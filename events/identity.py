"""Who sent a request: the device cookie, the client address and agent."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from events.enrichment import uuid_or_none


@dataclass(frozen=True)
class Identity:
    user_uuid: str | None
    device_uuid: str | None
    ip_address: str
    user_agent: str


def identity_from_request(request: HttpRequest) -> Identity:
    return Identity(
        user_uuid=None,
        # A cookie that does not hold a UUID is ignored, never an error (old clients send junk).
        device_uuid=uuid_or_none(request.COOKIES.get(settings.DEVICE_COOKIE_NAME)),
        ip_address=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
