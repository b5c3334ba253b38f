"""Every Kafka client of the service through the local broker's SASL listener (SASL_PLAINTEXT,
PLAIN and SCRAM-SHA-256; ``scripts/stack``): the producer, ``populate_topics``, the readiness check and
``tail_events``; wrong credentials fail in bounded time saying why. Needs the listener: without
it these tests fail (``kafka_sasl``), they do not skip."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from kafka_bridge.connection import client_config
from kafka_bridge.consumer import TailError, TopicTail
from kafka_bridge.producer import DeliveryFailed, OutgoingRecord, producer_reset, records_produce
from registry.models import kafka_topic_name
from tests.factories import SHIPPED_TOPICS, batch, nudged

pytestmark = pytest.mark.integration

REGISTRY_TOPICS = sorted(set(SHIPPED_TOPICS.values()))


def sasl_admin() -> AdminClient:
    return AdminClient(client_config(client_id="eventcapture-tests"))


@pytest.fixture
def wrong_password(kafka_sasl: None, settings) -> None:
    settings.KAFKA_SASL_PASSWORD = "not-the-password"
    producer_reset()


@pytest.fixture
def sasl_topic(kafka_sasl: None) -> Iterator[str]:
    """A one-partition topic of this test's own, created and deleted through the SASL listener."""
    name = f"{django_settings.KAFKA_TOPIC_PREFIX}sasl.{uuid.uuid4().hex[:8]}"
    admin = sasl_admin()
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)
    yield name
    admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


def read_one(topic: str) -> tuple[object, object, object]:
    """The first record of the topic's only partition, read through the configured listener."""
    config = client_config(client_id="eventcapture-tests")
    consumer = Consumer({**config, "group.id": f"tests-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(60):  # polls of at most 0.5 s: 30 s in all
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            return message.key(), message.value(), list(message.headers() or [])
    finally:
        consumer.close()
    raise AssertionError(f"no record in {topic} within 30 s")


# --- The producer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_the_producer_delivers_a_gzip_compressed_record_through_sasl(settings, sasl_topic, mechanism):
    settings.KAFKA_SASL_MECHANISM = mechanism
    settings.KAFKA_COMPRESSION_TYPE = "gzip"
    producer_reset()
    value = json.dumps({"text": "compressible " * 50}).encode()

    records_produce([OutgoingRecord(sasl_topic, "key-1", value, [("event_id", "e-1")])], timeout=30)

    assert read_one(sasl_topic) == (b"key-1", value, [("event_id", b"e-1")])


@pytest.mark.usefixtures("wrong_password")
def test_wrong_credentials_fail_a_delivery_in_bounded_time_saying_authentication_failed(settings, caplog):
    settings.KAFKA_DELIVERY_TIMEOUT = 3.0
    topic = f"{settings.KAFKA_TOPIC_PREFIX}sasl.never"
    caplog.set_level(logging.WARNING, logger="kafka_bridge.producer")

    with pytest.raises(DeliveryFailed) as failure:
        records_produce([OutgoingRecord(topic, "key", b"value", [])], timeout=5)

    assert failure.value.reason in ("delivery_error", "delivery_timeout")
    problems = [record.getMessage() for record in caplog.records if record.name == "kafka_bridge.producer"]
    assert any("SASL authentication error" in problem for problem in problems), problems


# --- populate_topics ------------------------------------------------------------------------------


@pytest.mark.usefixtures("catalogue", "kafka_sasl")
def test_populate_topics_creates_the_topics_through_sasl(settings):
    prefix = f"{settings.KAFKA_TOPIC_PREFIX}sasl.{uuid.uuid4().hex[:8]}."
    settings.KAFKA_TOPIC_PREFIX = prefix
    admin = sasl_admin()
    try:
        out = io.StringIO()
        call_command("populate_topics", stdout=out, stderr=io.StringIO(), no_color=True)

        assert out.getvalue().startswith(f"Kafka {settings.KAFKA_BOOTSTRAP_SERVERS} (1 broker)")
        assert out.getvalue().endswith(f"summary: {len(REGISTRY_TOPICS)} created\n")
        created = sorted(topic for topic in admin.list_topics(timeout=10).topics if topic.startswith(prefix))
        assert created == [f"{prefix}{topic}" for topic in REGISTRY_TOPICS]
    finally:
        ours = [topic for topic in admin.list_topics(timeout=10).topics if topic.startswith(prefix)]
        for future in admin.delete_topics(ours, operation_timeout=30).values() if ours else []:
            future.result(timeout=30)


@pytest.mark.usefixtures("catalogue", "wrong_password")
def test_populate_topics_with_wrong_credentials_says_authentication_failed():
    with pytest.raises(CommandError, match="SASL authentication error"):
        call_command("populate_topics", "--timeout", "3", stdout=io.StringIO(), stderr=io.StringIO())


# --- /ready ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("kafka_sasl")
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_ready_reaches_kafka_through_sasl(settings, mechanism):
    settings.KAFKA_SASL_MECHANISM = mechanism
    response = APIClient().get("/ready")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["kafka"] == {"ok": True}


@pytest.mark.django_db
@pytest.mark.usefixtures("wrong_password")
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_ready_with_wrong_credentials_shows_kafka_failed_saying_authentication_failed(settings, mechanism):
    settings.KAFKA_SASL_MECHANISM = mechanism
    settings.HEALTH_CHECK_TIMEOUT = 2.0
    # The reason only to a caller with the metrics token (the public sees `"ok": false`).
    settings.METRICS_TOKEN = "sasl-ready-token"
    response = APIClient().get("/ready", headers={"Authorization": "Bearer sasl-ready-token"})
    assert response.status_code == 200  # the web needs the database and the queue, not Kafka
    body = response.json()
    assert body["failed"] == ["kafka"]
    assert "SASL authentication error" in body["checks"]["kafka"]["error"]
    assert "not-the-password" not in response.content.decode()


# --- tail_events ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("kafka_topics", "celery_worker_thread", "kafka_sasl")
def test_a_posted_event_is_produced_and_tail_events_reads_it_back_through_sasl(live_server):
    response = requests.post(f"{live_server.url}/api/v0/events", json=batch(nudged(session_order=9)), timeout=10)
    assert response.status_code == 202, response.text
    (event_id,) = response.json()["ids"]

    out = io.StringIO()
    call_command(
        "tail_events",
        "--topic",
        kafka_topic_name("nudged"),
        "--from-beginning",
        "--idle-timeout",
        "5",
        "--registry-url",
        f"{live_server.url}/schema-registry",
        stdout=out,
    )

    ours = [line for line in map(json.loads, out.getvalue().splitlines()) if line["headers"]["event_id"] == event_id]
    assert len(ours) == 1
    assert ours[0]["value"]["session_order"] == 9


@pytest.mark.usefixtures("wrong_password")
def test_tail_events_with_wrong_credentials_says_authentication_failed():
    with pytest.raises(TailError, match="SASL authentication error"):
        TopicTail(topic=kafka_topic_name("nudged"), from_beginning=True, registry_url="http://127.0.0.1:9")
