"""The bridge's gauges read at scrape time (kafka_bridge/collectors.py), through the web's /metrics,
against the real Redis and database: the oldest undelivered batch's age, queued and taken, and the
pending dead letters by event type."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
import redis
from django.db import connections
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from eventcapture.celery import app
from kafka_bridge.dead_letters import dead_letters_record
from kafka_bridge.encoding import EncodingError
from kafka_bridge.intake import IntakeQueue
from kafka_bridge.models import DeadLetter
from kafka_bridge.queue import DELIVER_QUEUE, QueuedEvent, TaskWriter, batch_enqueue, replay_enqueue
from registry.models import SchemaRevision
from tests.queues import queues_purge

NUDGED = "org.openstax.ec.nudged_v1"
AGE = "eventcapture_oldest_batch_age_seconds"
PENDING = "eventcapture_dead_letters_pending"
AN_HOUR = 3600.0


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = APIClient().get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def ages() -> dict[str, float]:
    return {dict(labels)["state"]: value for (name, labels), value in scrape().items() if name == AGE}


def events(count: int) -> list[QueuedEvent]:
    return [QueuedEvent(str(uuid.uuid4()), 1, "key", {"n": n}) for n in range(count)]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The real Redis the Celery app publishes to, with no task queued or held; no worker runs."""
    client = redis.Redis.from_url(str(app.conf.broker_url))
    queues_purge()
    client.delete("unacked", "unacked_index")
    yield client
    queues_purge()
    client.delete("unacked", "unacked_index")
    client.close()


def queue_as_the_web_did(*, seconds_ago: float, count: int = 1) -> None:
    """A batch the web queued ``seconds_ago``: the web's own task message, with that queue time."""
    writer = TaskWriter(url=str(app.conf.broker_write_url), transport_options=dict(app.conf.broker_transport_options))
    try:
        writer.client.lpush(writer.key, writer.message(events(count), queued_at=time.time() - seconds_ago))
    finally:
        writer.client.close()


# --- The oldest undelivered batch ------------------------------------------------------------------


@pytest.mark.integration
def test_the_oldest_batch_age_is_0_in_both_states_when_nothing_is_undelivered(broker):
    assert ages() == {"queued": 0.0, "taken": 0.0}


@pytest.mark.integration
def test_a_waiting_batch_reports_the_age_of_the_oldest_one_next_to_be_taken_and_the_depth_counts_all(broker):
    queue_as_the_web_did(seconds_ago=AN_HOUR)
    batch_enqueue(events=events(2))  # newer: behind it in the queue
    batch_enqueue(events=events(1))

    samples = scrape()

    assert samples[("eventcapture_queue_depth", (("queue", "deliver"),))] == 3
    assert AN_HOUR <= samples[(AGE, (("state", "queued"),))] < 2 * AN_HOUR
    assert samples[(AGE, (("state", "taken"),))] == 0


@pytest.mark.integration
def test_batches_a_worker_took_and_kafka_has_not_acknowledged_count_as_taken_not_as_waiting(broker):
    # As the intake holds a group while Kafka is down: taken into kombu's unacked hash, not acknowledged.
    queue_as_the_web_did(seconds_ago=2 * AN_HOUR)
    queue_as_the_web_did(seconds_ago=AN_HOUR)
    intake = IntakeQueue(url=str(app.conf.broker_url), transport_options=dict(app.conf.broker_transport_options))
    assert len(intake.take(10)) == 2
    # A dead-letter replay Celery's own consumer holds is no batch: not counted.
    replay_enqueue(event_ids=[str(uuid.uuid4())])
    raw = broker.rpop(str(app.conf.task_default_queue))
    assert isinstance(raw, bytes)
    broker.hset("unacked", "replay-tag", orjson.dumps([orjson.loads(raw), "", str(app.conf.task_default_queue)]))
    queue_as_the_web_did(seconds_ago=60)

    samples = scrape()

    assert samples[("eventcapture_queue_depth", (("queue", "deliver"),))] == 1
    assert 2 * AN_HOUR <= samples[(AGE, (("state", "taken"),))] < 3 * AN_HOUR
    assert 60 <= samples[(AGE, (("state", "queued"),))] < AN_HOUR

    intake.client.close()


@pytest.mark.integration
@pytest.mark.parametrize(
    "message",
    [b'{"headers": {"task": "something.else"}, "body": "e30="}', b"not json at all", b"[1, 2]", b"42"],
    ids=["another task", "not JSON", "a JSON array", "a JSON number"],
)
def test_a_message_that_is_no_delivery_task_next_in_the_queue_is_not_taken_for_a_batch(broker, message):
    broker.rpush(DELIVER_QUEUE, message)

    samples = scrape()

    assert samples[("eventcapture_queue_depth", (("queue", "deliver"),))] == 1
    assert samples[(AGE, (("state", "queued"),))] == 0
    assert samples[(AGE, (("state", "taken"),))] == 0


@pytest.mark.usefixtures("unreachable_queue")
def test_a_scrape_still_answers_without_the_oldest_batch_age_when_redis_is_down():
    response = APIClient().get("/metrics")
    assert response.status_code == 200
    body = response.content.decode()
    assert "eventcapture_events_accepted_total" in body
    assert f"{AGE}{{" not in body


# --- Pending dead letters --------------------------------------------------------------------------


def dead_letter(*, schema_id: int) -> str:
    event = QueuedEvent(str(uuid.uuid4()), schema_id, "key", {})
    dead_letters_record(failures=[(event, EncodingError("does not fit"))])
    return event.event_id


@pytest.mark.usefixtures("catalogue")
def test_pending_dead_letters_are_counted_by_event_type_and_settled_ones_are_not():
    nudged = SchemaRevision.objects.get(major__full_name=NUDGED).pk
    pending = [dead_letter(schema_id=nudged) for _ in range(2)]
    replayed, delivered = dead_letter(schema_id=nudged), dead_letter(schema_id=nudged)
    without_revision = dead_letter(schema_id=999_999)
    DeadLetter.objects.filter(event_id=replayed).update(status=DeadLetter.Status.REPLAYED)
    DeadLetter.objects.filter(event_id=delivered).update(status=DeadLetter.Status.DELIVERED)
    assert DeadLetter.objects.get(event_id=without_revision).event_type == ""
    assert len(pending) == 2

    counted = {dict(labels)["event_type"]: value for (name, labels), value in scrape().items() if name == PENDING}

    assert counted == {NUDGED: 2, "unknown": 1}


@pytest.mark.django_db
def test_no_pending_dead_letter_means_no_series_but_the_family_is_there():
    DeadLetter.objects.all().delete()
    body = APIClient().get("/metrics").content.decode()
    assert f"# TYPE {PENDING} gauge\n" in body
    assert f"{PENDING}{{" not in body


def test_a_scrape_still_answers_without_pending_dead_letters_when_the_database_cannot_be_read():
    # No database for this test: every query fails, as when the database is down.
    response = APIClient().get("/metrics")

    assert response.status_code == 200
    body = response.content.decode()
    assert "eventcapture_events_accepted_total" in body
    assert f"# TYPE {PENDING} " not in body


# The rest of the scrape it checks includes the queue depth, read from Redis.
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_scrape_answers_without_pending_dead_letters_when_their_table_is_locked(settings):
    # Another connection holds the table (PostgreSQL) or the whole file (SQLite): the query gives up
    # after its timeout (PostgreSQL's statement_timeout; SQLite's own lock timeout) and the scrape
    # still answers, with the rest of the metrics.
    settings.HEALTH_CHECK_TIMEOUT = 0.2
    holder = connections.create_connection("default")
    try:
        with holder.cursor() as cursor:
            if holder.vendor == "postgresql":
                cursor.execute("BEGIN")
                cursor.execute(f"LOCK TABLE {DeadLetter._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            else:
                cursor.execute("BEGIN EXCLUSIVE")

            response = APIClient().get("/metrics")

            cursor.execute("ROLLBACK")
    finally:
        holder.close()
    assert response.status_code == 200
    body = response.content.decode()
    assert "eventcapture_queue_depth{" in body
    assert f"# TYPE {PENDING} " not in body
    # Once the lock is gone, the same connection reads them again.
    assert f"# TYPE {PENDING} gauge" in APIClient().get("/metrics").content.decode()
