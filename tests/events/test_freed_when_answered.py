"""An answered ingestion request leaves its view, its request and its parsed body to reference
counting, freed as soon as the answer is written: a cycle kept them, and every event of the batch,
alive until a garbage collector pass, which walked them meanwhile. (Error answers are DRF responses,
which refer to themselves once rendered, ``renderer_context["response"]``: left to the collector.)"""

from __future__ import annotations

import gc
import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.factories import batch, nudged

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue")]


def environ(path: str, body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


@pytest.fixture
def collector_saving_all() -> Iterator[None]:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def answered(application: WSGIHandler, path: str, body: bytes) -> str:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    # As Django's test client does: the test's database connection stays open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = application(environ(path, body), start_response)
        b"".join(response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return statuses[0]


def xapi_statement() -> str:
    return (settings.BASE_DIR / "schemas/org/adlnet/xapi/Statement/v1/example.json").read_text()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v0/events", json.dumps(batch(*(nudged(session_order=order) for order in range(50))))),
        ("/api/v0/xapi/statements", None),
    ],
)
def test_an_accepted_request_leaves_its_view_request_and_events_to_reference_counting(collector_saving_all, path, body):
    body = body or xapi_statement()
    application = WSGIHandler()
    assert answered(application, path, body.encode()).startswith("202")  # warmed up: caches filled
    gc.collect()
    gc.garbage.clear()

    for _ in range(5):
        assert answered(application, path, body.encode()).startswith("202")
    gc.collect()

    kinds = Counter(type(thing).__name__ for thing in gc.garbage)
    kept = {kind: kinds[kind] for kind in ("EventsView", "XapiStatementsView", "Request", "WSGIRequest") if kinds[kind]}
    assert kept == {}, kinds.most_common(10)
    sent = json.loads(body)
    parsed = [event["data"] for event in sent["events"]] if "events" in sent else [sent]
    assert not any(isinstance(thing, dict) and thing in parsed for thing in gc.garbage)
