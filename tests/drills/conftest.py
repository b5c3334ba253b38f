"""Fixtures of the fault drills: services of their own, worker processes, the live server
publishing to the drills' Redis, and a summary of the counts at the end of the run."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from registry.models import kafka_topic_name
from tests.drills.harness import (
    DELIVERY_TIMEOUT,
    VISIBILITY_TIMEOUT,
    Client,
    DrillStack,
    Tally,
    Worker,
    WorkerStart,
    drill_stack_start,
    drill_stack_stop,
)

# The counts of every drill of this run, printed at the end (the acceptance note quotes them).
TALLIES: list[Tally] = []


@pytest.fixture(scope="package")
def drill_stack() -> Iterator[DrillStack]:
    """A Kafka broker and a Redis of the drills' own, in .stack/drills/run-<pid>, on free ports;
    the drills stop and start them. Stopped after the last drill."""
    stack = drill_stack_start()
    try:
        # The topic the drills' events go to (nudged), named with this run's KAFKA_TOPIC_PREFIX.
        stack.topic_create(kafka_topic_name("nudged"))
        yield stack
    finally:
        drill_stack_stop(stack)


@pytest.fixture
def drill_topic(drill_stack: DrillStack) -> str:
    return kafka_topic_name("nudged")


def _database_url() -> str:
    """The test database, as a DATABASE_URL a worker process can use."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if db["ENGINE"].endswith("postgresql"):
        user = quote(db.get("USER") or "", safe="")
        password = quote(db.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{credentials}{db.get('HOST') or ''}{port}/{quote(db['NAME'], safe='')}"
    pytest.skip(f"the drills' worker processes do not know the database engine {db['ENGINE']}")


@pytest.fixture
def drill_api(drill_stack: DrillStack, committed_catalogue: None, live_server: Any, settings: Any) -> Iterator[Client]:
    """The live server, its Celery app publishing to the drills' Redis (emptied first)."""
    from eventcapture.celery import app
    from tests.queues import broker_point

    settings.RATE_LIMIT_ENABLED = False
    settings.KAFKA_BOOTSTRAP_SERVERS = drill_stack.bootstrap
    drill_stack.queue_flush()
    saved = (app.conf.broker_url, app.conf.broker_write_url, app.conf.broker_transport_options)
    options = {**(saved[2] or {}), "visibility_timeout": VISIBILITY_TIMEOUT}
    broker_point(drill_stack.broker_url, drill_stack.broker_url, options)
    client = Client(live_server.url)
    yield client
    client.session.close()
    broker_point(*saved)


@pytest.fixture
def drill_workers(
    drill_stack: DrillStack, committed_catalogue: None, settings: Any, request: pytest.FixtureRequest
) -> Iterator[WorkerStart]:
    """Starts real workers (``celery -A eventcapture worker``, with its pool of threads as the
    service runs it) on the test database, the drills' Redis and Kafka, and this run's topics; all
    stopped at the end."""
    env = {
        "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "DATABASE_URL": _database_url(),
        "KAFKA_BOOTSTRAP_SERVERS": drill_stack.bootstrap,
        "KAFKA_TOPIC_PREFIX": settings.KAFKA_TOPIC_PREFIX,
        "SCHEMA_REGISTRY_URL": "",
        "CELERY_BROKER_URL": drill_stack.broker_url,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "LOG_LEVEL": "INFO",
        # No metrics endpoint: its fixed port may be taken by `make run`'s worker or another run's.
        "WORKER_METRICS_PORT": "0",
    }
    workers: list[Worker] = []
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]

    def start(*, delivery_timeout: float = DELIVERY_TIMEOUT, ready: bool = True) -> Worker:
        worker = Worker(
            name=f"{prefix}-{len(workers) + 1}",
            env={**os.environ, **env, "KAFKA_DELIVERY_TIMEOUT": str(delivery_timeout)},
            stack=drill_stack,
        )
        workers.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def drill_record(record_property: Callable[[str, object], None]) -> Callable[[Tally], None]:
    """Keeps a drill's counts: recorded in the JUnit XML properties and listed in a "fault drills"
    section at the end of the run."""
    started = time.monotonic()

    def record(tally: Tally) -> None:
        tally.extra["seconds"] = round(time.monotonic() - started)
        TALLIES.append(tally)
        for name in ("accepted", "delivered", "lost", "duplicates", "stray", "refused"):
            record_property(name, getattr(tally, name))
        for name, value in tally.extra.items():
            record_property(name, value)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLIES:
        terminalreporter.section("fault drills")
        for tally in TALLIES:
            terminalreporter.write_line(tally.line())
