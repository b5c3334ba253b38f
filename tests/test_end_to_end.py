"""HTTP → Celery (real Redis) → Avro → real Kafka, read back with Confluent's AvroDeserializer
through this service's schema-registry API. Needs `make services` (make test starts them)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from io import StringIO

import pytest
import requests
from django.conf import settings
from django.core.management import CommandError, call_command

from kafka_bridge.consumer import TopicTail
from kafka_bridge.registry_client import registry_client_reset
from kafka_bridge.targets import encoding_cache_clear
from registry.models import SchemaRevision, kafka_topic_name
from tests.factories import NUDGED_EXAMPLE, batch, nudged, registrar_create

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kafka_topics", "celery_worker_thread")]


def test_a_posted_nudged_event_reaches_kafka_and_decodes_to_the_expected_record(live_server):
    with TopicTail(
        topic=kafka_topic_name("nudged"), from_beginning=False, registry_url=f"{live_server.url}/schema-registry/"
    ) as tail:
        before = datetime.now(UTC)
        # A device cookie that is not a UUID is ignored (device_uuid null), never an error.
        response = requests.post(
            f"{live_server.url}/api/v0/events", json=batch(nudged()), cookies={"oxdid": "not-a-uuid"}, timeout=10
        )
        after = datetime.now(UTC)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["accepted"] == 1
        assert body["warnings"] == []
        (event_id,) = body["ids"]
        record = next((r for r in tail.records(idle_timeout=30) if r.headers.get("event_id") == event_id), None)

    assert record is not None, f"event {event_id} did not reach Kafka"
    assert record.topic == kafka_topic_name("nudged") == f"{settings.KAFKA_TOPIC_PREFIX}nudged"
    assert record.key == NUDGED_EXAMPLE["session_uuid"]
    assert record.headers == {"event_id": event_id, "event_type": "org.openstax.ec.nudged_v1"}
    latest = SchemaRevision.objects.filter(major__full_name="org.openstax.ec.nudged_v1").latest("revision")
    assert record.schema_id == latest.pk
    value = dict(record.value)
    occurred_at = value.pop("occurred_at")
    assert value == {
        "device_uuid": None,
        "user_uuid": None,
        "session_uuid": uuid.UUID(NUDGED_EXAMPLE["session_uuid"]).bytes,
        "session_order": 42,
        "scheme": "https",
        "host": "openstax.org",
        "path": "/books/physics/pages/1-intro",
        "query": {"book_id": ["34343"]},
        "app": "tutor",
        "target": "study_guides",
        "context": NUDGED_EXAMPLE["context"],
        "flavor": "full-screen-v2",
        "medium": "in-app",
    }
    # Occurred and sent are equal in the example, so the corrected time is the receive time.
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= occurred_at <= after


def test_tail_events_prints_the_posted_event_as_a_json_line(live_server):
    response = requests.post(f"{live_server.url}/api/v0/events", json=batch(nudged(session_order=7)), timeout=10)
    assert response.status_code == 202, response.text
    (event_id,) = response.json()["ids"]

    out = StringIO()
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
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    ours = [line for line in lines if line["headers"]["event_id"] == event_id]
    assert len(ours) == 1
    assert ours[0]["value"]["session_uuid"] == NUDGED_EXAMPLE["session_uuid"]
    assert ours[0]["value"]["session_order"] == 7
    assert ours[0]["value"]["query"] == {"book_id": ["34343"]}

    unreachable = "http://127.0.0.1:9/schema-registry"
    with pytest.raises(CommandError, match=r"cannot decode .*nudged\[\d\]@\d+"):
        call_command(
            "tail_events",
            "--topic",
            kafka_topic_name("nudged"),
            "--from-beginning",
            "--max",
            "1",
            "--registry-url",
            unreachable,
            stdout=StringIO(),
        )


def test_with_an_external_registry_records_carry_its_schema_ids_and_decode(live_server, settings):
    registrar_create()
    registry_url = f"{live_server.url}/schema-registry"
    settings.SCHEMA_REGISTRY_URL = registry_url
    settings.SCHEMA_REGISTRY_BASIC_AUTH = "registrar:s3cret-pass"
    registry_client_reset()
    encoding_cache_clear()
    try:
        with TopicTail(topic=kafka_topic_name("nudged"), from_beginning=False, registry_url=registry_url) as tail:
            response = requests.post(f"{live_server.url}/api/v0/events", json=batch(nudged()), timeout=10)
            assert response.status_code == 202, response.text
            (event_id,) = response.json()["ids"]
            record = next((r for r in tail.records(idle_timeout=30) if r.headers.get("event_id") == event_id), None)
    finally:
        registry_client_reset()
        encoding_cache_clear()

    assert record is not None, f"event {event_id} did not reach Kafka"
    latest = requests.get(f"{registry_url}/subjects/org.openstax.ec.nudged_v1/versions/latest", timeout=10).json()
    assert record.schema_id == latest["id"]
    assert record.value["session_uuid"] == uuid.UUID(NUDGED_EXAMPLE["session_uuid"]).bytes
