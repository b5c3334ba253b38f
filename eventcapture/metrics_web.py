"""The web process's side of the metrics: ``GET /metrics`` and the request-latency middleware.

Who may read ``/metrics``: with ``METRICS_TOKEN`` set, whoever sends ``Authorization: Bearer
<token>``, from anywhere, and nobody else (401). Without it, only clients on loopback or in
``METRICS_ALLOWED_NETWORKS`` (their address as the rate limits see it: ``TRUSTED_PROXIES`` and
X-Forwarded-For); anyone else gets 403. It is outside ``/api/``, so it is neither rate limited
nor in the OpenAPI document.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_safe

from eventcapture import metrics
from eventcapture.client_address import IPNetwork, request_client_ip

# Anything else a client sends as a method is "other": label values must stay few.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


# The ingestion endpoint, whose answers the dashboard and the alerts read from process start.
_INGESTION = (("POST", "/api/v0/events"),)


@functools.lru_cache(maxsize=8)
def allowed_networks_parse(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``METRICS_ALLOWED_NETWORKS`` as networks (a bare address is a /32 or /128); raises ValueError."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def client_may_scrape(*, client: str, allowed: tuple[IPNetwork, ...]) -> bool:
    """``client`` (an address) is a loopback address or in one of the ``allowed`` networks."""
    try:
        address = ipaddress.ip_address(client.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or any(address in network for network in allowed)


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if settings.METRICS_TOKEN:
        if not metrics.metrics_token_presented(authorization=request.headers.get("Authorization", "")):
            response = HttpResponse("a valid metrics token is required\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not client_may_scrape(
        client=request_client_ip(request), allowed=allowed_networks_parse(tuple(settings.METRICS_ALLOWED_NETWORKS))
    ):
        return HttpResponse(
            "metrics are served to loopback and METRICS_ALLOWED_NETWORKS only, or with the metrics token\n",
            status=403,
            content_type="text/plain",
        )
    body, content_type = metrics.exposition(accept=request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


def _ingestion_routes() -> list[tuple[str, str]]:
    routes = []
    for method, path in _INGESTION:
        try:
            match = resolve(path)
        except Resolver404:
            continue
        routes.append((method, match.route))
    return routes


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
    First in ``MIDDLEWARE``, so the time includes every other middleware. Built once per process
    when Django loads its middleware (a gunicorn worker does as it starts): the web's failure series
    are set at zero then (``metrics.web_metrics_zero``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from eventcapture.exceptions import rejection_codes

        self.get_response = get_response
        metrics.web_metrics_zero(codes=rejection_codes(), routes=_ingestion_routes())

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
