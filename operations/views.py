"""The service's own endpoints: ``/api/v0/info``, ``/ready`` and the OpenAPI document's view."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiJsonRenderer2
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from eventcapture.exceptions import NotFound
from eventcapture.metrics import metrics_token_presented
from events.identity import identity_from_request
from operations import openapi
from operations.health import info_get, readiness_get, requester_is_admin


@method_decorator(never_cache, name="dispatch")
class InfoView(APIView):
    """``GET /api/v0/info``: what is deployed; admins also see Kafka topics and registry subjects."""

    # Anyone may ask; a staff member's admin session sees more (GET only: no CSRF question).
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(**openapi.INFO_OPERATION)
    def get(self, request: Request) -> Response:
        started = time.monotonic()
        admin = requester_is_admin(user=request.user, user_uuid=identity_from_request(request._request).user_uuid)
        return Response(info_get(admin=admin, started=started))


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    """``GET /ready``: 200 when the web's needs (the database, the queue) answer, else 503; every
    check's state, Kafka's too, in the body, and the failed ones named. Why one failed only with
    DEBUG on or the metrics token (as ``/metrics`` takes it): it may name hosts, users, brokers."""
    readiness = readiness_get()
    detailed = settings.DEBUG or metrics_token_presented(authorization=request.headers.get("Authorization", ""))
    return JsonResponse(readiness.as_dict(detailed=detailed), status=readiness.status_code)


class _JsonErrors(APIView):
    """Errors (a method the view lacks, say) as the API's JSON error body, whatever renders the
    view's own answer (an OpenAPI document, the docs page's HTML)."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.exception:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response


class OpenApiView(_JsonErrors, SpectacularJSONAPIView):
    """``GET /api/v0/swagger``: the OpenAPI document, generated per request from the registry;
    ``application/json`` unless the client asks for ``application/vnd.oai.openapi+json``."""

    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer]


class OpenApiDocsView(_JsonErrors, SpectacularSwaggerView):
    """``GET /api/v0/docs``: Swagger UI on the OpenAPI document."""


class UnknownApiEndpointView(APIView):
    """Any other path under ``/api/`` (an unknown URL, an endpoint's path with a trailing slash):
    the API's 404 ``not_found``, in its error shape, whatever the method, never Django's HTML page."""

    authentication_classes: list[type[Any]] = []
    permission_classes: list[type[Any]] = []
    throttle_classes: list[type[Any]] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before the method is looked at: a path that is not there is a 404 whatever the method.
        raise NotFound()


def ping(request: HttpRequest) -> HttpResponse:
    """``GET /ping``: the process answers (a liveness probe; nothing else is asked)."""
    return HttpResponse("pong", content_type="text/plain")
