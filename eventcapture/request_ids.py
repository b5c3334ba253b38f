"""The request id: taken from the client's (or a proxy's) ``X-Request-ID`` when it is a sane token,
a new one otherwise; answered in ``X-Request-ID`` and named by every log line of the request
(eventcapture/logs.py), and carried with the request's events to the worker (kafka_bridge/queue.py).

Why not django-guid, which does much of this: it takes only UUIDs, logs the refused header's value
as it came (a hostile client's 10 KB, at WARNING) and a line at INFO for every request; and its
Celery integration moves one id per task through Celery's publish signals, while the web's queue
writes its tasks itself and one task carries the batches of many requests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from eventcapture.logs import request_id_set

HEADER = "X-Request-ID"
# What a request id taken from a client may be: a token of letters, digits and ``-._:``, at most
# this long (a UUID, a ULID, a load balancer's or tracer's id). Nothing that could break a log
# line, a header or the text format's `request_ids=a,b` suffix.
REQUEST_ID_MAX_LENGTH = 128
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def request_id_from_header(value: str | None) -> str:
    """``value`` when it is a sane request id, else a new one (a UUID4's 32 hex digits)."""
    if value and len(value) <= REQUEST_ID_MAX_LENGTH and value.isascii() and _SANE.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds the request's id for its log lines and answers it in ``X-Request-ID``. The id stays
    bound until the response is closed (``request_finished``): Django logs a 4xx or 5xx answer
    (``django.request``) after the last middleware returned it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from_header(request.headers.get(HEADER))
        request_id_set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="eventcapture.request_ids.request_id_unbound")
def _request_id_unbound(**_: Any) -> None:
    # Served: lines logged later by this thread belong to no request.
    request_id_set(None)
