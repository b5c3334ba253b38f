"""The bare-Django ceiling: the least a Django view can do with an events body.

It parses the JSON body (with orjson, as the service does), mints an id per event and answers
202 with them: no DRF, no middleware, no validation, no queue. The bench serves it with the
service's own gunicorn settings, so the two differ only in what the service does per request.

    gunicorn bench.ceiling_app --config eventcapture/gunicorn_conf.py --bind 127.0.0.1:PORT
"""

from __future__ import annotations

import uuid

import orjson
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-ceiling-only",  # noqa: S106 (serves no secrets, checks no signatures)
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after settings.configure)
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def events(request: HttpRequest) -> HttpResponse:
    body = orjson.loads(request.body)
    ids = [str(uuid.uuid4()) for _ in body["events"]]
    answer = {"accepted": len(ids), "ids": ids, "warnings": []}
    return HttpResponse(orjson.dumps(answer), status=202, content_type="application/json")


def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pong", content_type="text/plain")


urlpatterns = [path("api/v0/events", events), path("ping", ping)]

application = get_wsgi_application()
