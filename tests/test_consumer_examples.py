"""The consumer examples of examples/consumers/ (Python, Node.js, JVM), run as other teams would run
them, against the real broker and the live server's schema-registry API: each decodes one event of
every catalogue type (and xAPI statements of every shape revision 2 of the record holds), turns UUIDs
into text and drops a record delivered twice."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from django.conf import settings

from kafka_bridge.producer import OutgoingRecord, records_produce
from kafka_bridge.topics import topics_ensure
from registry.models import EventMajor
from tests.consumer_examples import (
    EXAMPLES,
    KAFKA_TIMEOUT,
    example_commands,
    finish_example,
    run_example,
)
from tests.xapi_records import (
    MULTIPART_BOUNDARY,
    attached_statement,
    group_object_statement,
    multipart_body,
    rich_statement,
    statement_rebuilt,
)

pytestmark = [pytest.mark.integration]

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "schemas"


def _examples_events() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((CATALOGUE / "org/openstax/ec").glob("*/v*/example.json"))]


def _raw_record(*, topic: str, event_id: str | None = None, key: str | None = None) -> OutgoingRecord:
    """The record of ``event_id`` (or the one keyed ``key``) exactly as the worker produced it: key,
    headers, encoded value."""
    consumer = Consumer({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, "group.id": f"dup-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=KAFKA_TIMEOUT).topics[topic].partitions
        consumer.assign([TopicPartition(topic, number, OFFSET_BEGINNING) for number in partitions])
        for _ in range(KAFKA_TIMEOUT * 2):
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            headers: list[tuple[str, str | bytes | None]] = list(message.headers() or [])  # type: ignore[arg-type]
            found_key = message.key()
            value = message.value()
            assert isinstance(found_key, bytes)
            assert isinstance(value, bytes)
            if ("event_id", (event_id or "").encode()) in headers or found_key.decode() == key:
                return OutgoingRecord(topic=topic, key=found_key.decode(), value=value, headers=headers)
    finally:
        consumer.close()
    raise AssertionError(f"{event_id or key} did not reach {topic}")


@pytest.mark.usefixtures("celery_worker_thread")
def test_each_consumer_example_decodes_every_catalogue_topic_once_per_event(live_server, own_topics, kafka_topics):
    commands = example_commands()
    missing = [
        path
        for path in (EXAMPLES / "node" / "node_modules", EXAMPLES / "jvm" / "target" / "dependency")
        if not path.is_dir()
    ]
    assert not missing, f"{missing} missing: `make examples` (part of `make test`) installs and builds the examples"
    topics_ensure(partitions=settings.KAFKA_TOPIC_PARTITIONS, replication=1)
    majors = {major.full_name: major for major in EventMajor.objects.select_related("event_type")}
    catalogue_topics = {major.topic for major in majors.values() if major.status == EventMajor.Status.ACTIVE}
    assert all(topic.startswith(own_topics) for topic in catalogue_topics)

    events = _examples_events()
    response = requests.post(
        f"{live_server.url}/api/v0/events", json={"events": [{"data": event} for event in events]}, timeout=10
    )
    assert response.status_code == 202, response.text
    statement = {**json.loads((CATALOGUE / "org/adlnet/xapi/Statement/v1/example.json").read_text())}
    statement["id"] = str(uuid.uuid4())
    # And statements only revision 2 of the record holds: a Group object and authority, extensions
    # of every JSON type, interaction components.
    statements = [statement, rich_statement(str(uuid.uuid4())), group_object_statement(str(uuid.uuid4()))]
    xapi = requests.post(f"{live_server.url}/api/v0/xapi/statements", json=statements, timeout=10)
    assert xapi.status_code == 202, xapi.text
    # And one sent by an xAPI client with its attachment's data: the record carries it, base64.
    attached = attached_statement(str(uuid.uuid4()))
    lrs = requests.post(
        f"{live_server.url}/api/v0/xapi/statements",
        data=multipart_body([attached]),
        headers={
            "Content-Type": f"multipart/mixed; boundary={MULTIPART_BOUNDARY}",
            "X-Experience-API-Version": "1.0.3",
        },
        timeout=10,
    )
    assert lrs.status_code == 200, lrs.text

    sent = dict(zip(response.json()["ids"], events, strict=True))
    statement_of = dict(zip(xapi.json()["ids"], statements, strict=True))
    # An LRS answers with the statement's id, its key: its delivery id is in the record's headers.
    xapi_topic = majors["org.adlnet.xapi.Statement"].topic
    [attached_id] = lrs.json()
    attached_event_id = dict(_raw_record(topic=xapi_topic, key=attached_id).headers)["event_id"]
    assert isinstance(attached_event_id, bytes)
    statement_of[attached_event_id.decode()] = attached
    topic_of = {event_id: majors[event["type"]].topic for event_id, event in sent.items()}
    topic_of.update(dict.fromkeys(statement_of, xapi_topic))
    assert set(topic_of.values()) == catalogue_topics
    # A second delivery of one record, as a worker that crashed after producing would make: the same
    # bytes, key and headers, through the project's own producer.
    duplicated = next(iter(sent))
    records_produce([_raw_record(topic=topic_of[duplicated], event_id=duplicated)], timeout=KAFKA_TIMEOUT)
    # Every other record has reached Kafka too before the examples start (their idle timeout).
    for event_id, topic in topic_of.items():
        _raw_record(topic=topic, event_id=event_id)

    registry_url = f"{live_server.url}/schema-registry"
    running = {
        name: run_example(command, registry_url=registry_url, group_id=f"{own_topics}{name}", topic_prefix=own_topics)
        for name, command in commands.items()
    }
    decoded: dict[str, dict[str, dict[str, Any]]] = {}
    for name, process in running.items():
        lines, summary = finish_example(name, process)
        assert summary == {"records": len(topic_of), "duplicates_dropped": 1}, name
        by_id = decoded[name] = {line["event_id"]: line for line in lines}
        assert len(by_id) == len(lines) == len(topic_of), name
        assert {event_id: line["topic"] for event_id, line in by_id.items()} == topic_of, name
        for event_id, event in sent.items():
            line = by_id[event_id]
            assert line["event_type"] == event["type"], name
            # The key is the session UUID as UTF-8 text; UUID fields decode to their text form.
            assert line["key"] == line["value"]["session_uuid"] == event["session_uuid"], name
            for field, value in event.items():
                if field in line["value"] and isinstance(value, str) and _is_uuid(value):
                    assert line["value"][field] == value, (name, field)
            # Timestamps in ISO 8601, each language in its own spelling: the same instant.
            line["value"]["occurred_at"] = datetime.fromisoformat(line["value"]["occurred_at"])
        for statement_id, sent_statement in statement_of.items():
            statement_line = by_id[statement_id]
            assert statement_line["key"] == statement_line["value"]["id"] == sent_statement["id"], name
            assert statement_line["event_type"] == "org.adlnet.xapi.Statement", name
            # The statement, rebuilt from what the example printed, is the one sent as the service
            # completed it (stored is the service's; the example's timestamp and version are sent),
            # with the data of an attachment sent with it, base64, in its content.
            value = statement_line["value"]
            completed = {**sent_statement, "stored": value["stored"]}
            assert statement_rebuilt(value) == completed, name

    # The three decode every record to the same value.
    assert decoded["node"] == decoded["python"]
    assert decoded["jvm"] == decoded["python"]


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


@pytest.mark.usefixtures("celery_worker_thread")
def test_each_consumer_example_reads_the_topics_named_and_stops_after_max_records(
    live_server, own_topics, kafka_topics
):
    topics_ensure(partitions=settings.KAFKA_TOPIC_PARTITIONS, replication=1)
    # Two events on one topic: a consumer that stops after one record prints one.
    events = _examples_events()[:1] * 2
    response = requests.post(
        f"{live_server.url}/api/v0/events", json={"events": [{"data": event} for event in events]}, timeout=10
    )
    assert response.status_code == 202, response.text
    majors = {major.full_name: major for major in EventMajor.objects.select_related("event_type")}
    topic_of = {
        event_id: majors[event["type"]].topic for event_id, event in zip(response.json()["ids"], events, strict=True)
    }
    for event_id, topic in topic_of.items():
        _raw_record(topic=topic, event_id=event_id)
    [topic] = set(topic_of.values())

    running = {
        name: run_example(
            command,
            registry_url=f"{live_server.url}/schema-registry",
            group_id=f"{own_topics}{name}",
            topics=topic,
            max_records="1",
        )
        for name, command in example_commands().items()
    }
    for name, process in running.items():
        lines, summary = finish_example(name, process)
        assert summary == {"records": 1, "duplicates_dropped": 0}, name
        assert len(lines) == 1, name
        assert lines[0]["topic"] == topic, name
        assert lines[0]["event_id"] in topic_of, name
