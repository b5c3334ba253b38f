"""A request's id follows its events to the worker: the worker's log lines about them (a dead letter,
a delivery stall) name the id the HTTP answer gave, in JSON and in text. Through the real web (live
server), Redis queue, worker thread (its intake, and Celery's own consumer) and Kafka broker."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from eventcapture.celery import TASK_BODY_SERIALIZER, app
from eventcapture.logs import JsonFormatter, RequestIdFilter, TextFormatter
from kafka_bridge.models import DeadLetter
from kafka_bridge.producer import producer_reset
from kafka_bridge.queue import DELIVER_TASK, QueuedEvent
from kafka_bridge.registry_client import registry_client_reset
from kafka_bridge.targets import encoding_cache_clear
from registry.models import SchemaRevision
from tests.factories import NUDGED_EXAMPLE, batch, nudged, nudged_record, registrar_create
from tests.ports import closed_port

pytestmark = pytest.mark.integration

NUDGED = "org.openstax.ec.nudged_v1"


class WorkerLogs:
    """Every line logged in this process while attached (the worker runs in threads of it), through
    the console handler's filter, as JSON and as text."""

    def __init__(self) -> None:
        self.json = io.StringIO()
        self.text = io.StringIO()
        self.handlers = []
        for stream, formatter in ((self.json, JsonFormatter()), (self.text, TextFormatter())):
            handler = logging.StreamHandler(stream)
            handler.addFilter(RequestIdFilter())
            handler.setFormatter(formatter)
            self.handlers.append(handler)

    def lines(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in map(json.loads, self.json.getvalue().splitlines()) if line["logger"] == logger]

    def text_lines(self) -> list[str]:
        return self.text.getvalue().splitlines()


@pytest.fixture
def worker_logs() -> Iterator[WorkerLogs]:
    logs = WorkerLogs()
    root = logging.getLogger()
    for handler in logs.handlers:
        root.addHandler(handler)
    yield logs
    for handler in logs.handlers:
        root.removeHandler(handler)


@pytest.fixture
def refusing_registry(live_server: Any, settings: Any) -> Iterator[None]:
    """The worker registers schemas in the live server's registry API with a wrong password: every
    event it encodes is refused (RegistryRefused), kept as a dead letter and logged as one."""
    registrar_create()
    settings.SCHEMA_REGISTRY_URL = f"{live_server.url}/schema-registry"
    settings.SCHEMA_REGISTRY_BASIC_AUTH = "registrar:wrong-pass"
    registry_client_reset()
    encoding_cache_clear()
    yield
    registry_client_reset()
    encoding_cache_clear()


@pytest.fixture
def kafka_unreachable(settings: Any) -> Iterator[None]:
    """The worker's producer points at a closed port; Kafka's reports are awaited one second, and a
    batch counts as stalled at its first failure."""
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"
    settings.KAFKA_DELIVERY_TIMEOUT = 1.0
    settings.KAFKA_OUTAGE_ALERT_SECONDS = 0.0
    producer_reset()
    yield
    producer_reset()


def wait_for(condition: Callable[[], bool], *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def post(live_server: Any, *datas: dict[str, Any], request_id: str | None = None) -> tuple[str, list[str]]:
    """The request id the answer gave, and the accepted events' ids."""
    headers = {} if request_id is None else {"X-Request-ID": request_id}
    response = requests.post(f"{live_server.url}/api/v0/events", json=batch(*datas), headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    return response.headers["X-Request-ID"], response.json()["ids"]


def dead_letter_lines(logs: WorkerLogs) -> dict[str, dict[str, Any]]:
    """The dead-letter lines by the event id they name."""
    return {
        line["message"].split()[1]: line
        for line in logs.lines("kafka_bridge.dead_letters")
        if "kept as a dead letter" in line["message"]
    }


# The worker first, then the faults: teardown runs in reverse, so the worker stops before they end.
@pytest.mark.usefixtures("celery_worker_thread", "refusing_registry")
def test_each_dead_letter_line_names_the_request_its_event_came_from(live_server, worker_logs):
    first, first_events = post(live_server, nudged(session_order=1), nudged(session_order=2))
    second, second_events = post(live_server, nudged(session_order=3), request_id="client-chosen.7")
    assert second == "client-chosen.7"

    wait_for(lambda: DeadLetter.objects.count() == 3, what="three dead letters")
    wait_for(lambda: len(dead_letter_lines(worker_logs)) == 3, what="three dead-letter lines")

    lines = dead_letter_lines(worker_logs)
    assert {event_id: line.get("request_id") for event_id, line in lines.items()} == {
        first_events[0]: first,
        first_events[1]: first,
        second_events[0]: second,
    }
    assert all("request_ids" not in line for line in lines.values())
    text = [line for line in worker_logs.text_lines() if "kept as a dead letter" in line]
    assert sorted(line.rsplit(" ", 1)[1] for line in text) == sorted(
        [f"request_id={first}", f"request_id={first}", f"request_id={second}"]
    )


@pytest.mark.usefixtures("celery_worker_thread", "refusing_registry")
def test_a_task_celerys_own_consumer_delivers_names_its_requests_too():
    # A delivery task in Celery's default queue (queued by an earlier version, or handed over by
    # the intake) goes through kafka_bridge.tasks.deliver_batch, not the intake.
    revision = SchemaRevision.objects.get(major__full_name=NUDGED, revision=1)
    events = [
        QueuedEvent(str(uuid.uuid4()), revision.pk, NUDGED_EXAMPLE["session_uuid"], nudged_record(session_order=n))
        for n in range(3)
    ]
    app.send_task(
        DELIVER_TASK,
        args=(events,),
        kwargs={"queued_at": time.time()},
        queue=str(app.conf.task_default_queue),
        serializer=TASK_BODY_SERIALIZER,
        headers={"request_ids": [["req-a", 1], ["req-b", 2]]},
    )
    logs = WorkerLogs()
    root = logging.getLogger()
    for handler in logs.handlers:
        root.addHandler(handler)
    try:
        wait_for(lambda: len(dead_letter_lines(logs)) == 3, what="three dead-letter lines")
    finally:
        for handler in logs.handlers:
            root.removeHandler(handler)

    lines = dead_letter_lines(logs)
    assert [lines[event.event_id]["request_id"] for event in events] == ["req-a", "req-b", "req-b"]


@pytest.mark.usefixtures("kafka_unreachable", "celery_worker_thread")
def test_a_delivery_stall_names_the_requests_of_the_stalled_events(live_server, worker_logs, caplog):
    # The in-thread worker sets the root logger to ERROR; the producer's warnings are wanted here.
    caplog.set_level(logging.WARNING, logger="kafka_bridge.producer")
    request_id, _ = post(live_server, nudged(session_order=1))

    def stalled() -> list[dict[str, Any]]:
        return [line for line in worker_logs.lines("kafka_bridge.intake") if "undelivered" in line["message"]]

    wait_for(lambda: bool(stalled()), what="a stall report")
    report = stalled()[0]
    assert report["level"] == "ERROR"
    assert report["request_ids"] == [request_id]
    # Kafka's own failure, logged by the producer while delivering the group, names it too.
    failures = [line for line in worker_logs.lines("kafka_bridge.producer") if "delivery failed" in line["message"]]
    assert failures
    assert all(line["request_ids"] == [request_id] for line in failures)
    text = [line for line in worker_logs.text_lines() if "undelivered" in line]
    assert text[0].endswith(f"still being retried: DeliveryFailed request_ids={request_id}")
