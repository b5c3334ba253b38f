"""X-Request-ID (eventcapture/request_ids.py): a sane id from the client is answered and names the
request's log lines; a hostile one is replaced; the accepted batch's task carries it."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rest_framework.test import APIClient

from eventcapture.celery import app
from eventcapture.logs import JsonFormatter, RequestIdFilter
from eventcapture.request_ids import REQUEST_ID_MAX_LENGTH
from kafka_bridge.queue import DELIVER_QUEUE, task_read
from tests.factories import batch, nudged
from tests.queues import queues_purge

GENERATED = re.compile(r"[0-9a-f]{32}")


class Logged:
    """The JSON lines every logger writes while it is attached to the root logger, as the
    console's handler (LOG_FORMAT=json) writes them."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.addFilter(RequestIdFilter())
        self.handler.setFormatter(JsonFormatter())

    def lines(self, logger: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [line for line in lines if logger is None or line["logger"] == logger]


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Logged]:
    # A Celery worker started by an earlier test leaves the root logger at ERROR.
    caplog.set_level(logging.INFO)
    captured = Logged()
    root = logging.getLogger()
    root.addHandler(captured.handler)
    yield captured
    root.removeHandler(captured.handler)


def refused_post(request_id: str | None) -> Any:
    """A request the service refuses with a 400, which Django logs (django.request) as it answers,
    after the last middleware returned."""
    headers = {} if request_id is None else {"X-Request-ID": request_id}
    return APIClient().post("/api/v0/events", b"{not json", content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    "sane",
    ["4f1c2a9e0b7d4c1e8f3a2b5c6d7e8f90", "2f0e9a4c-6b1d-4c8e-9f3a-1b2c3d4e5f60", "lb.req:42_x-y", "a" * 128],
)
def test_a_sane_request_id_is_answered_and_names_the_requests_log_lines(logged, sane):
    response = refused_post(sane)
    logging.getLogger("tests.after").warning("after the request")

    assert response.status_code == 400
    assert response["X-Request-ID"] == sane
    [refusal] = logged.lines("django.request")
    assert refusal["request_id"] == sane
    assert refusal["level"] == "WARNING"
    # Served: what the thread logs next belongs to no request.
    [after] = logged.lines("tests.after")
    assert "request_id" not in after


@pytest.mark.parametrize(
    "hostile",
    [
        "abc\ninjected: yes",
        "abc\r\nX-Other: 1",
        "x" * 10_000,
        "a" * (REQUEST_ID_MAX_LENGTH + 1),
        "réquest",
        "id with spaces",
        "a,b",
        'quote"d',
        "-leading-dash",
        "",
    ],
)
def test_a_hostile_request_id_is_replaced_by_a_new_one_which_the_log_lines_name(logged, hostile):
    response = refused_post(hostile)

    answered = response["X-Request-ID"]
    assert GENERATED.fullmatch(answered)
    [refusal] = logged.lines("django.request")
    assert refusal["request_id"] == answered
    if hostile:
        assert hostile not in logged.stream.getvalue()


def test_a_request_without_an_id_gets_a_new_one_each_time():
    first, second = refused_post(None), refused_post(None)

    assert GENERATED.fullmatch(first["X-Request-ID"])
    assert GENERATED.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_every_answer_has_a_request_id_even_one_the_cors_middleware_gives_itself():
    preflight = APIClient().options(
        "/api/v0/events",
        headers={
            "Origin": "https://openstax.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-request-id",
        },
    )

    assert preflight.status_code == 200
    assert "x-request-id" in {header.strip() for header in preflight["Access-Control-Allow-Headers"].split(",")}
    assert GENERATED.fullmatch(preflight["X-Request-ID"])
    assert GENERATED.fullmatch(APIClient().get("/ping")["X-Request-ID"])


@pytest.fixture
def queue_client() -> Iterator[redis.Redis]:
    """A client of the real queue in Redis, emptied before and after the test."""
    queues_purge()
    client = redis.Redis.from_url(str(app.conf.broker_url))
    yield client
    queues_purge()
    client.close()


@pytest.mark.integration
def test_an_accepted_batchs_task_names_its_request_and_how_many_events_it_brought(catalogue, queue_client):
    response = APIClient().post(
        "/api/v0/events",
        batch(nudged(session_order=1), nudged(session_order=2)),
        format="json",
        headers={"X-Request-ID": "client-batch-1"},
    )
    assert response.status_code == 202, response.content

    raw = queue_client.rpop(DELIVER_QUEUE)
    assert isinstance(raw, bytes)
    task = task_read(raw)
    assert [event.event_id for event in task.events] == response.json()["ids"]
    assert task.requests == [("client-batch-1", 2)]
