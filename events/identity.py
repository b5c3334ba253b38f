"""Who sent a request: the signed-in user, the device cookie, the client address and agent."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from eventcapture.client_address import request_client_ip
from events.enrichment import uuid_or_none
from events.sso import SsoKeyError, sso_keys_load, sso_user_uuid

LOAD_TEST_HEADER = "LoadTest-Client-UUID"


@dataclass(frozen=True)
class Identity:
    user_uuid: str | None
    device_uuid: str | None
    ip_address: str
    user_agent: str


# Where a request keeps its identity once worked out (the throttles and the view both need it).
_CACHED = "_eventcapture_identity"


def identity_from_request(request: HttpRequest) -> Identity:
    """The request's identity, worked out once per request: reading it may decrypt and verify an
    SSO token, which the rate limits and the view would otherwise each do."""
    identity = getattr(request, _CACHED, None)
    if not isinstance(identity, Identity):
        identity = _identity(request)
        setattr(request, _CACHED, identity)
    return identity


def _identity(request: HttpRequest) -> Identity:
    return Identity(
        user_uuid=_user_uuid(request),
        # A cookie that does not hold a UUID is ignored, never an error (old clients send junk).
        device_uuid=uuid_or_none(request.COOKIES.get(settings.DEVICE_COOKIE_NAME)),
        ip_address=request_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


def _user_uuid(request: HttpRequest) -> str | None:
    if settings.LOADTESTING_ACTIVE:
        load_test_user = uuid_or_none(request.headers.get(LOAD_TEST_HEADER))
        # Never one of the ADMIN_UUIDS: a header must not make anyone an admin.
        if load_test_user is not None and load_test_user not in settings.ADMIN_UUIDS:
            return load_test_user
    token = _bearer_token(request) or request.COOKIES.get(settings.SSO_COOKIE_NAME)
    if not token or not settings.SSO_ENCRYPTION_KEY:
        return None
    try:
        keys = sso_keys_load(
            encryption_key=settings.SSO_ENCRYPTION_KEY,
            signature_public_key=settings.SSO_SIGNATURE_PUBLIC_KEY,
            encryption_key_fallbacks=settings.SSO_ENCRYPTION_KEY_FALLBACKS,
            signature_public_key_fallbacks=settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS,
        )
    except SsoKeyError as error:
        # Only when the system checks (events.E001, events.E002), which stop start-up, were skipped.
        raise ImproperlyConfigured(str(error)) from error
    return sso_user_uuid(token, keys=keys, issuers=settings.SSO_ISSUER, audiences=settings.SSO_AUDIENCE)


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
