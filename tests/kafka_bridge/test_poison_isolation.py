"""A schema that cannot be prepared, or an event that cannot be encoded, whatever is raised, holds
back nothing but its own events: they become dead letters with the reason, the rest of their
batch reaches Kafka and the task is acknowledged. Preparation fails through a test seam (the
encoder factory of kafka_bridge.targets), as a recursive schema registered before the registry
refused them did. Through the real web (live server), Redis queue, worker thread and Kafka broker;
the replay and the transient failures need only the database."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import OperationalError
from prometheus_client import REGISTRY

from eventcapture.celery import app
from kafka_bridge import targets
from kafka_bridge.consumer import DecodedRecord, TopicTail
from kafka_bridge.dead_letters import dead_letters_record
from kafka_bridge.delivery import batch_deliver
from kafka_bridge.encoding import Encoder, EncodingError
from kafka_bridge.intake import IntakeQueue
from kafka_bridge.models import DeadLetter
from kafka_bridge.producer import producer_reset
from kafka_bridge.queue import QueuedEvent
from kafka_bridge.targets import encoding_cache_clear
from kafka_bridge.tasks import replay_dead_letters
from registry.models import EventMajor, SchemaRevision
from tests.factories import NUDGED_EXAMPLE, batch, nudged, nudged_record

NUDGED = "org.openstax.ec.nudged_v1"
STARTED_SESSION = "org.openstax.ec.started_session_v1"
ACCESSED_STUDYGUIDE = "org.openstax.ec.accessed_studyguide_v1"
EXAMPLES = Path(settings.BASE_DIR) / "schemas/org/openstax/ec"
DEAD_LETTERED = "eventcapture_events_dead_lettered_total"


def example(full_name: str, **overrides: Any) -> dict[str, Any]:
    name = full_name.rsplit(".", 1)[1].rsplit("_v", 1)[0]
    data: dict[str, Any] = json.loads((EXAMPLES / name / "v1/example.json").read_text())
    return {**data, **overrides}


def schema_id_of(full_name: str) -> int:
    return SchemaRevision.objects.get(major__full_name=full_name, revision=1).pk


def dead_lettered(full_name: str) -> float:
    return REGISTRY.get_sample_value(DEAD_LETTERED, {"event_type": full_name}) or 0.0


# --- The seams -------------------------------------------------------------------------------------


class Poison:
    """Preparing the encoder of one schema id raises ``error``; every attempt is counted."""

    def __init__(self, schema_id: int, error: Exception) -> None:
        self.schema_id = schema_id
        self.error = error
        self.attempts = 0

    def encoder(self, *, schema: dict[str, Any], schema_id: int) -> Encoder:
        if schema_id == self.schema_id:
            self.attempts += 1
            raise self.error
        return Encoder(schema=schema, schema_id=schema_id)


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Poison]]:
    """``poison(full_name, error)``: the revision 1 of ``full_name`` cannot be prepared."""

    def apply(full_name: str, error: Exception | None = None) -> Poison:
        seam = Poison(schema_id_of(full_name), error or RecursionError("maximum recursion depth exceeded"))
        monkeypatch.setattr(targets, "Encoder", seam.encoder)
        encoding_cache_clear()
        return seam

    yield apply
    monkeypatch.undo()
    encoding_cache_clear()


# An event of this session_order fails to encode with an exception nobody foresaw.
UNLUCKY = 13


class FaultyEncoder(Encoder):
    def encode(self, record: dict[str, Any]) -> bytes:
        if record.get("session_order") == UNLUCKY:
            raise ZeroDivisionError("a fault of ours")
        return super().encode(record)


@pytest.fixture
def faulty_encoder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(targets, "Encoder", FaultyEncoder)
    encoding_cache_clear()
    yield
    monkeypatch.undo()
    encoding_cache_clear()


# --- Helpers through the real services -------------------------------------------------------------


def wait_for(condition: Callable[[], bool], *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def post(live_server: Any, *datas: dict[str, Any]) -> list[str]:
    response = requests.post(f"{live_server.url}/api/v0/events", json=batch(*datas), timeout=10)
    assert response.status_code == 202, response.text
    ids: list[str] = response.json()["ids"]
    assert len(ids) == len(datas)
    return ids


def topic_of(full_name: str) -> str:
    return EventMajor.objects.select_related("event_type").get(full_name=full_name).topic


def records_read(live_server: Any, tails: dict[str, TopicTail], wanted: dict[str, str]) -> dict[str, DecodedRecord]:
    """The records of ``wanted`` (event id -> topic) read from ``tails`` (opened before the post)."""
    found: dict[str, DecodedRecord] = {}
    for topic, tail in tails.items():
        ids = {event_id for event_id, its_topic in wanted.items() if its_topic == topic}
        if not ids:
            continue
        for record in tail.records(idle_timeout=30):
            if record.headers.get("event_id") in ids:
                found[record.headers["event_id"]] = record
            if ids <= set(found):
                break
    return found


@pytest.fixture
def tails(live_server: Any) -> Iterator[dict[str, TopicTail]]:
    """Readers of the three types' topics, from their end."""
    registry_url = f"{live_server.url}/schema-registry"
    opened = {
        topic: TopicTail(topic=topic, from_beginning=False, registry_url=registry_url)
        for topic in {topic_of(NUDGED), topic_of(STARTED_SESSION), topic_of(ACCESSED_STUDYGUIDE)}
    }
    yield opened
    for tail in opened.values():
        tail.close()


def tasks_in_hand() -> tuple[int, int]:
    """(tasks waiting in the delivery queue, tasks taken and not acknowledged)."""
    queue = IntakeQueue(url=str(app.conf.broker_url), transport_options=dict(app.conf.broker_transport_options))
    client: redis.Redis = queue.client
    try:
        return client.llen(queue.keys.queue), client.hlen(queue.keys.unacked)
    finally:
        client.close()


def letters_of(full_name: str) -> list[DeadLetter]:
    return list(DeadLetter.objects.filter(event_type=full_name).order_by("first_seen"))


def unforeseen_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "kafka_bridge.targets" and record.levelno == logging.ERROR
    ]


# --- Through the real queue, worker and Kafka ------------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("kafka_topics", "celery_worker_thread")
def test_a_schema_that_cannot_be_prepared_keeps_only_its_events_as_dead_letters_and_holds_back_no_batch(
    live_server, poison, tails, caplog
):
    poisoned = poison(NUDGED)
    nudged_id = schema_id_of(NUDGED)
    counted_before = dead_lettered(NUDGED)
    others = {STARTED_SESSION: topic_of(STARTED_SESSION), ACCESSED_STUDYGUIDE: topic_of(ACCESSED_STUDYGUIDE)}

    for round_ in (1, 2):
        ids = post(
            live_server,
            nudged(session_order=10 * round_),
            example(STARTED_SESSION),
            nudged(session_order=10 * round_ + 1),
            example(ACCESSED_STUDYGUIDE, session_order=10 * round_ + 2),
        )
        wanted = {ids[1]: others[STARTED_SESSION], ids[3]: others[ACCESSED_STUDYGUIDE]}

        found = records_read(live_server, tails, wanted)

        assert set(found) == set(wanted), f"round {round_}: the other types' events did not reach Kafka"
        assert found[ids[1]].headers == {"event_id": ids[1], "event_type": STARTED_SESSION}
        assert found[ids[3]].value["session_order"] == 10 * round_ + 2
        wait_for(lambda: tasks_in_hand() == (0, 0), what=f"round {round_}'s task acknowledged")
        letters = letters_of(NUDGED)
        assert [str(letter.event_id) for letter in letters[-2:]] == [ids[0], ids[2]]
        assert len(letters) == 2 * round_

    for letter in letters:
        assert (letter.status, letter.schema_id, letter.attempts) == (DeadLetter.Status.PENDING, nudged_id, 1)
        assert letter.reason == "RecursionError: maximum recursion depth exceeded"
        assert letter.key == NUDGED_EXAMPLE["session_uuid"]
    assert sorted(letter.record["session_order"] for letter in letters) == [10, 11, 20, 21]
    assert DeadLetter.objects.exclude(event_type=NUDGED).count() == 0
    assert dead_lettered(NUDGED) == counted_before + 4
    # Prepared once, not again for the second batch; logged loudly once.
    assert poisoned.attempts == 1
    (line,) = unforeseen_lines(caplog)
    assert line.startswith(f"schema id {nudged_id}: preparing its encoder failed unexpectedly with RecursionError at ")
    # Nothing was produced to the poisoned type's topic.
    assert not list(tails[topic_of(NUDGED)].records(idle_timeout=1))


@pytest.mark.integration
@pytest.mark.usefixtures("kafka_topics", "faulty_encoder", "celery_worker_thread")
def test_an_event_that_fails_to_encode_unexpectedly_is_kept_alone_and_the_rest_of_its_group_is_delivered(
    live_server, tails, caplog
):
    nudged_id = schema_id_of(NUDGED)
    ids = post(
        live_server,
        nudged(session_order=1),
        nudged(session_order=UNLUCKY),
        example(STARTED_SESSION),
        nudged(session_order=3),
    )
    wanted = {ids[0]: topic_of(NUDGED), ids[2]: topic_of(STARTED_SESSION), ids[3]: topic_of(NUDGED)}

    found = records_read(live_server, tails, wanted)

    assert set(found) == set(wanted)
    assert sorted(found[event_id].value["session_order"] for event_id in (ids[0], ids[3])) == [1, 3]
    wait_for(lambda: tasks_in_hand() == (0, 0), what="the task acknowledged")
    (letter,) = DeadLetter.objects.all()
    assert (str(letter.event_id), letter.event_type, letter.status) == (ids[1], NUDGED, DeadLetter.Status.PENDING)
    assert letter.reason == "ZeroDivisionError: a fault of ours"

    # Another unlucky one: kept too, and the fault is not logged again.
    again = post(live_server, nudged(session_order=UNLUCKY), nudged(session_order=4))
    assert set(records_read(live_server, tails, {again[1]: topic_of(NUDGED)})) == {again[1]}
    wait_for(lambda: DeadLetter.objects.count() == 2, what="the second dead letter")
    (line,) = unforeseen_lines(caplog)
    assert line.startswith(f"schema id {nudged_id}: encoding an event failed unexpectedly with ZeroDivisionError at ")
    assert line.split(" at ", 1)[1].split(":")[0].endswith("test_poison_isolation.py")


# --- Replays and transient failures (the database only) --------------------------------------------


def queued(full_name: str = NUDGED, **record: Any) -> QueuedEvent:
    return QueuedEvent(
        str(uuid.uuid4()), schema_id_of(full_name), NUDGED_EXAMPLE["session_uuid"], nudged_record(**record)
    )


def test_a_replay_whose_target_cannot_be_built_keeps_the_letters_pending_with_the_new_reason(catalogue, poison):
    events = [queued(session_order=1), queued(session_order=2)]
    dead_letters_record(failures=[(event, EncodingError("does not fit")) for event in events])
    poisoned = poison(NUDGED)

    with pytest.raises(CommandError, match=r"^2 dead letters still fail"):
        call_command("replay_dead_letters", stdout=StringIO(), stderr=StringIO())
    # The task of the admin's action ends too, the letters left pending for the next replay.
    result = replay_dead_letters.apply(args=([event.event_id for event in events],), throw=True)
    producer_reset()

    assert result.successful()
    for letter in DeadLetter.objects.all():
        assert (letter.status, letter.attempts) == (DeadLetter.Status.PENDING, 3)
        assert letter.reason == "RecursionError: maximum recursion depth exceeded"
    # Each replay tried the schema again, once for all its letters.
    assert poisoned.attempts == 2


def test_a_reason_is_clipped_and_no_log_line_repeats_the_message(catalogue, poison, caplog):
    poison(NUDGED, TypeError("cannot take " + "a value of the record, " * 500))
    event = queued()

    with caplog.at_level(logging.INFO):
        batch_deliver(events=[event])
    producer_reset()

    reason = DeadLetter.objects.get().reason
    assert reason.startswith("TypeError: cannot take a value of the record, a value")
    assert reason.endswith(" characters)")
    assert len(reason) < 2100
    assert "a value of the record" not in caplog.text
    assert f"event {event.event_id} (org.openstax.ec.nudged_v1, schema id " in caplog.text


def test_the_events_of_a_schema_that_cannot_be_prepared_still_count_as_accepted_by_their_major(catalogue, poison):
    poison(NUDGED)
    major = EventMajor.objects.get(full_name=NUDGED)

    report = batch_deliver(events=[queued(), queued()])
    producer_reset()

    assert report.majors == {schema_id_of(NUDGED): major.pk}
    assert sum(report.delivered.values()) == 0
    assert DeadLetter.objects.filter(event_type=NUDGED).count() == 2


def test_a_database_that_does_not_answer_fails_the_batch_for_a_retry_and_is_not_remembered(catalogue, poison):
    poisoned = poison(NUDGED, OperationalError("database is locked"))
    event = queued()

    for _ in range(2):
        with pytest.raises(OperationalError):
            batch_deliver(events=[event])

    assert poisoned.attempts == 2
    assert DeadLetter.objects.count() == 0
