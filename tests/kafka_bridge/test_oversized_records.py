"""A record Kafka cannot take for its size holds back nothing: the API refuses such events
(tests/events/test_conforming.py), and one that still reaches the worker (queued before, or a
broker whose limit is lower than the producer's) becomes a dead letter while the rest of its batch
is delivered. Against the real broker."""

from __future__ import annotations

import base64
import os
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource  # type: ignore[attr-defined]
from django.conf import settings

from kafka_bridge.connection import client_config
from kafka_bridge.delivery import batch_deliver
from kafka_bridge.models import DeadLetter
from kafka_bridge.producer import OutgoingRecord, RecordsRefused, records_produce
from kafka_bridge.queue import QueuedEvent
from kafka_bridge.targets import encoding_cache_clear
from kafka_bridge.topics import topics_ensure
from registry.models import SchemaRevision
from tests.factories import nudged_record

pytestmark = [pytest.mark.integration]

NUDGED = "org.openstax.ec.nudged_v1"
KAFKA_TIMEOUT = 30


def _event(**record: Any) -> QueuedEvent:
    schema_id = SchemaRevision.objects.get(major__full_name=NUDGED, revision=1).pk
    return QueuedEvent(str(uuid.uuid4()), schema_id, str(uuid.uuid4()), nudged_record(**record))


def _event_ids_in(topic: str) -> set[str]:
    consumer = Consumer(
        {**client_config(client_id="test"), "group.id": f"oversized-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    found: set[str] = set()
    try:
        partitions = consumer.list_topics(topic, timeout=KAFKA_TIMEOUT).topics[topic].partitions
        consumer.assign([TopicPartition(topic, number, OFFSET_BEGINNING) for number in partitions])
        for _ in range(20):
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            headers = dict(message.headers() or [])
            event_id = headers["event_id"]
            assert isinstance(event_id, bytes)
            found.add(event_id.decode())
    finally:
        consumer.close()
    return found


def _refused_by_broker_soon(topic: str) -> None:
    """Wait (bounded) until the broker applies a lowered ``max.message.bytes``: it does so a moment
    after acknowledging the change, and a producer already connected would beat it."""
    probe = OutgoingRecord(topic, "probe", _incompressible(20_000).encode(), [("event_id", b"probe")])
    deadline = time.monotonic() + KAFKA_TIMEOUT
    while time.monotonic() < deadline:
        try:
            records_produce([probe], timeout=KAFKA_TIMEOUT)
        except RecordsRefused:
            return
        time.sleep(0.2)
    raise AssertionError(f"the broker still takes large records on {topic}")


def _incompressible(length: int) -> str:
    return base64.b64encode(os.urandom(length)).decode()[:length]


@pytest.mark.usefixtures("kafka_topics")
def test_a_record_larger_than_the_producer_sends_is_a_dead_letter_and_the_rest_is_delivered(settings):
    topics_ensure(partitions=settings.KAFKA_TOPIC_PARTITIONS, replication=1)
    # As a task queued before the limit was lowered (the API would refuse it now).
    settings.KAFKA_MESSAGE_MAX_BYTES = 50_000
    large, small = _event(app="a" * 60_000), _event()

    batch_deliver(events=[large, small])

    letter = DeadLetter.objects.get(event_id=large.event_id)
    assert letter.status == DeadLetter.Status.PENDING
    assert letter.reason.startswith("RecordRefused: its record is 60,")
    assert letter.reason.endswith("bytes, more than the producer sends (50,000)")
    topic = SchemaRevision.objects.get(pk=small.schema_id).major.topic
    assert small.event_id in _event_ids_in(topic)
    assert not DeadLetter.objects.filter(event_id=small.event_id).exists()


@pytest.mark.usefixtures("kafka_topics")
def test_a_record_the_broker_refuses_for_its_size_is_a_dead_letter_and_the_rest_is_delivered(own_topics):
    topics_ensure(partitions=settings.KAFKA_TOPIC_PARTITIONS, replication=1)
    # Targets are kept per schema id, with the topic of the prefix they were built under.
    encoding_cache_clear()
    large, small = _event(app=_incompressible(20_000)), _event()
    topic = SchemaRevision.objects.get(pk=small.schema_id).major.topic
    admin = AdminClient(client_config(client_id="test"))
    limit = ConfigEntry("max.message.bytes", "4096", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[limit])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=KAFKA_TIMEOUT)
    _refused_by_broker_soon(topic)

    batch_deliver(events=[large, small])

    letter = DeadLetter.objects.get(event_id=large.event_id)
    assert letter.reason.startswith("RecordRefused: Kafka refused its record:")
    assert "too large" in letter.reason.lower()
    # In the same request to the broker, refused with it, then delivered alone.
    assert small.event_id in _event_ids_in(topic) - {"probe"}
    assert not DeadLetter.objects.filter(event_id=small.event_id).exists()


@pytest.mark.usefixtures("kafka_topics")
def test_records_produce_names_the_records_kafka_refuses_and_delivers_the_others(own_topics):
    topics_ensure(partitions=settings.KAFKA_TOPIC_PARTITIONS, replication=1)
    topic = SchemaRevision.objects.get(major__full_name=NUDGED, revision=1).major.topic
    records = [
        OutgoingRecord(topic, "k", b"small", [("event_id", b"first")]),
        OutgoingRecord(topic, "k", b"x" * (settings.KAFKA_MESSAGE_MAX_BYTES + 1), [("event_id", b"second")]),
        OutgoingRecord(topic, "k", b"small", [("event_id", b"third")]),
    ]

    with pytest.raises(RecordsRefused) as refused:
        records_produce(records, timeout=KAFKA_TIMEOUT)

    assert list(refused.value.refused) == [1]
    assert _event_ids_in(topic) == {"first", "third"}
