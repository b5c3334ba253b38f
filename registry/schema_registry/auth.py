"""Who may write to the schema-registry API: reads are open; each write needs the registry
permission that fits it (``StaffWrites``): registering a revision ``registry.add_schemarevision``,
a subject's level (``PUT /config/{subject}``) ``registry.change_eventmajor``, the global level
(``PUT /config``) a superuser. The Analysts group holds none of them.

A user is recognised by, in this order:

- HTTP Basic auth (what ``SchemaRegistryClient`` sends for ``basic.auth.user.info``);
- ``Authorization: Token <key>`` or ``Authorization: Bearer <key>`` with a DRF ``authtoken`` key
  (``manage.py drf_create_token <user>``, or the admin's Tokens page); ``Bearer`` is what clients
  configured with ``bearer.auth.credentials.source: STATIC_TOKEN`` send;
- the Django session of a logged-in user (the admin), with Django's CSRF check enforced, as
  DRF's ``SessionAuthentication`` does: the views are CSRF-exempt so that header-authenticated
  API clients are not asked for a CSRF token, but a browser's session cookie alone never writes.

Basic credentials a browser has cached are ambient too, but a cross-site page still cannot write
with them: a write's body must be JSON (``media.PARSER_CLASSES``; anything else, or none, is 415
before any change), and a cross-site JSON request needs a CORS preflight this API never grants.

No credentials on a write: 401 (error code 40101, with a Basic challenge); wrong credentials: 401;
an authenticated user who is inactive or lacks the permission: 403 (40301). Authentication is lazy: reads never
look at credentials, so a client with stale credentials can still read.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from rest_framework.authentication import (
    BaseAuthentication,
    BasicAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.authentication import TokenAuthentication as DrfTokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from eventcapture.client_address import request_client_ip
from eventcapture.ratelimits import window_count, window_peek

if TYPE_CHECKING:
    from rest_framework.views import APIView

# Columns of SchemaRevision.created_by.
_CREATED_BY_MAX = 150


class RegistryBasicAuthentication(BasicAuthentication):
    www_authenticate_realm = "schema-registry"


class _CountedTokenAuthentication(DrfTokenAuthentication):
    """Token authentication whose failures are counted per client address, as django-axes counts
    failed passwords (it never sees tokens: they are looked up, not authenticated): from the
    ``LOGIN_FAILURE_LIMIT``-th failure on, the address is refused with 429 until its window of
    ``LOGIN_COOLOFF_MINUTES`` ends. Counted in the rate-limit cache; when that is unreachable,
    failures are not counted (a key is 160 random bits: there is nothing to guess quickly)."""

    def authenticate(self, request: Request) -> Any:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None  # not this scheme: nothing to count
        window = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds()))
        now = time.time()
        key = f"token-failures:{request_client_ip(request._request)}:{int(now // window)}"
        counted = window_peek(key)
        if counted is not None and counted >= settings.AXES_FAILURE_LIMIT:
            raise Throttled(wait=window - now % window)
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            counted = window_count(key, timeout=window + 5)
            if counted is not None and counted >= settings.AXES_FAILURE_LIMIT:
                # As django-axes does: the limit's failure is the first refused.
                raise Throttled(wait=window - now % window) from None
            raise


class TokenAuthentication(_CountedTokenAuthentication):
    keyword = "Token"


class BearerTokenAuthentication(_CountedTokenAuthentication):
    keyword = "Bearer"


class RegistrySessionAuthentication(SessionAuthentication):
    """An admin session, CSRF enforced (DRF's): its own class so that the API document can say
    that only writes need it."""


# Basic comes first: DRF answers 401 with the first authenticator's challenge.
AUTHENTICATION_CLASSES: tuple[type[BaseAuthentication], ...] = (
    RegistryBasicAuthentication,
    TokenAuthentication,
    BearerTokenAuthentication,
    RegistrySessionAuthentication,
)


# What ``write_permissions`` may name instead of a permission: only a superuser may.
SUPERUSER = "superuser"


class StaffWrites(BasePermission):
    """Methods in a view's ``write_permissions`` need an active user with that permission (or a
    superuser, for ``SUPERUSER``); the other methods are open."""

    message = "Writing to the schema registry needs a registry permission this user does not have."

    def has_permission(self, request: Request, view: APIView) -> bool:
        needed = getattr(view, "write_permissions", {}).get(request.method)
        if needed is None:
            return True
        user: Any = request.user
        if user is None or not user.is_active:
            return False
        return bool(user.is_superuser if needed == SUPERUSER else user.has_perm(needed))


def writer_name(request: Request) -> str:
    """What a revision written by ``request`` records as ``created_by``."""
    username = str(request.user.get_username()) if request.user is not None else ""
    if isinstance(request.successful_authenticator, DrfTokenAuthentication):
        username = f"{username} (API token)"
    return username[:_CREATED_BY_MAX]
