"""The web process's side of the metrics: ``GET /metrics`` and the request-latency middleware.

``/metrics`` is open unless ``METRICS_TOKEN`` is set, then it needs ``Authorization: Bearer
<token>``. It is outside ``/api/``, so it is neither rate limited nor in the OpenAPI document.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_safe

from eventcapture import metrics

# Anything else a client sends as a method is "other": label values must stay few.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


def _authorized(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = HttpResponse("a valid metrics token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.exposition(accept=request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


def _route(request: HttpRequest, status: int) -> str:
    """The URL pattern that served the request (``api/v0/events``), never the raw path."""
    match = request.resolver_match
    if match is None and status != 404:
        # Answered before URL resolution (a CORS preflight, say): the pattern the path would match.
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
    return match.route if match is not None and match.route else UNMATCHED_ROUTE


class RequestLatencyMiddleware:
    """``eventcapture_http_request_duration_seconds{method, route, status}`` for every request.
    First in ``MIDDLEWARE``, so the time includes every other middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "other"
        metrics.request_observed(
            method=method or "other",
            route=_route(request, response.status_code),
            status=response.status_code,
            seconds=elapsed,
        )
        return response
