"""Rate limits of the public API (``/api/``), per client address and per signed-in user, counted
as eventcapture/ratelimits.py says (fixed windows in Redis, failing open)."""

from __future__ import annotations

from rest_framework.request import Request

from eventcapture.ratelimits import ClientIpWindowThrottle, WindowRateThrottle
from events.identity import Identity, identity_from_request


def _identity(request: Request) -> Identity:
    # Worked out once per request, for both throttles and the view.
    return identity_from_request(request._request)


class ClientIpRateThrottle(ClientIpWindowThrottle):
    """``RATE_LIMIT_PER_IP``: every request, keyed on the client address (behind trusted proxies,
    the address they forwarded)."""

    scope = "ip"
    rate_setting = "RATE_LIMIT_PER_IP"


class UserRateThrottle(WindowRateThrottle):
    """``RATE_LIMIT_PER_USER``: requests of a signed-in user (SSO), keyed on the user's UUID."""

    scope = "user"
    rate_setting = "RATE_LIMIT_PER_USER"

    def ident(self, request: Request) -> str | None:
        return _identity(request).user_uuid
