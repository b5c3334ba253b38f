"""The service's own endpoints: ``/api/v0/info``, ``/ready`` and the OpenAPI document's view."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiJsonRenderer2
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

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


class OpenApiView(SpectacularJSONAPIView):
    """``GET /api/v0/swagger``: the OpenAPI document, generated per request from the registry;
    ``application/json`` unless the client asks for ``application/vnd.oai.openapi+json``."""

    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer]


def ping(request: HttpRequest) -> HttpResponse:
    """``GET /ping``: the process answers (a liveness probe; nothing else is asked)."""
    return HttpResponse("pong", content_type="text/plain")
