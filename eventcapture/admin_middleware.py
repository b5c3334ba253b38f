"""The admin's middleware (sessions, the signed-in user, messages), which the ingestion endpoints
skip.

``POST /api/v0/events`` and ``/api/v0/xapi/statements`` read no session, no Django user and no
messages (who sent an event is the SSO token's, eventcapture's identity, never the admin's), and are
the requests the service serves by the thousand: each of these middleware costs them a little
(a session store made, a messages storage, a lazy user), together about 3.5 % of the web's CPU for a
50-event request, measured side by side on one core. Every other path, the admin's above all, runs
them as Django's own. Subclasses, so that Django's admin checks (admin.E408-E410) still find them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.utils.deprecation import MiddlewareMixin

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from django.http import HttpRequest, HttpResponseBase

# The ingestion endpoints' paths (events/urls.py under /api/v0/), exactly: a trailing slash or any
# other path under /api/ runs the whole stack.
INGESTION_PATHS = frozenset({"/api/v0/events", "/api/v0/xapi/statements"})


class _SkipsIngestion(MiddlewareMixin):
    """Runs the middleware it is mixed into for every request but the ingestion endpoints'."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if request.path_info in INGESTION_PATHS:
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_SkipsIngestion, _SessionMiddleware):
    pass


class AuthenticationMiddleware(_SkipsIngestion, _AuthenticationMiddleware):
    pass


class MessageMiddleware(_SkipsIngestion, _MessageMiddleware):
    pass
