"""Accepted means readable: whatever the API answers 202 (or an LRS's 200) for, the worker encodes
and a consumer's reader decodes back to the same values. Events generated from each catalogue
type's JSON schema (Hypothesis, hypothesis-jsonschema) and xAPI statements of every shape
(tests/accepted.py), with the edges pushed in: integers sent as floats, clocks from year 1 to 9999,
text of every plane, empty maps, keys the schema does not define, extension values of every JSON
type. Each is posted through the HTTP API; an accepted one is read from the real queue, encoded by
the worker's encoder and read back with fastavro (what confluent-kafka's AvroDeserializer uses); a
sample also through the Node.js and Java consumer examples."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from events.xapi_statements import statement_complete
from kafka_bridge.producer import OutgoingRecord, records_produce
from kafka_bridge.queue import QueuedEvent
from kafka_bridge.topics import topics_ensure
from registry.models import EventMajor, SchemaRevision
from registry.record_fit import XAPI_STATEMENT
from tests.accepted import ENVELOPE, decoded, differences, encoded, events, statements
from tests.consumer_examples import KAFKA_TIMEOUT, example_commands, finish_example, run_example
from tests.factories import COUNTED, counted_type, nudged
from tests.queues import queued_events
from tests.xapi_records import statement_rebuilt

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue", "empty_queue")]

# Examples per event type: the seven catalogue types take about 20 s together here.
EXAMPLES = 150
XAPI_URL = "/api/v0/xapi/statements"
PROPERTY = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _event_types() -> list[str]:
    return sorted(
        EventMajor.objects.filter(status=EventMajor.Status.ACTIVE, full_name__startswith="org.openstax.").values_list(
            "full_name", flat=True
        )
    )


def _latest(full_name: str) -> SchemaRevision:
    revision = SchemaRevision.objects.filter(major__full_name=full_name).order_by("-revision").first()
    assert revision is not None
    return revision


def _read_back(response: Any, revision: SchemaRevision, *, sent: Any) -> tuple[QueuedEvent, Any] | None:
    """None for a request refused at the edge (with its reasons, nothing queued); else its one
    queued event, which the worker's encoder encodes and fastavro reads back unchanged, and what
    it read."""
    if response.status_code in (400, 422):
        # Refused at the edge, with the reasons (a NUL character, a date-time it does not read...).
        assert response.json()["errors"], response.json()
        assert queued_events() == []
        return None
    assert response.status_code in (200, 202), (response.status_code, response.content[:500])
    [queued] = queued_events()
    assert queued.schema_id == revision.pk
    value = encoded(avro_schema=revision.avro_schema_dict, schema_id=revision.pk, record=queued.record)
    read = decoded(avro_schema=revision.avro_schema_dict, value=value)
    assert differences(queued.record, read) == [], (sent, queued.record)
    return queued, read


def test_every_catalogue_type_is_tried():
    assert _event_types() == [
        "org.openstax.ec.accessed_studyguide_v1",
        "org.openstax.ec.changed_state_v1",
        "org.openstax.ec.created_highlight_v1",
        "org.openstax.ec.created_highlight_v2",
        "org.openstax.ec.interacted_element_v1",
        "org.openstax.ec.nudged_v1",
        "org.openstax.ec.started_session_v1",
    ]


@pytest.mark.parametrize(
    "full_name",
    [
        "org.openstax.ec.accessed_studyguide_v1",
        "org.openstax.ec.changed_state_v1",
        "org.openstax.ec.created_highlight_v1",
        "org.openstax.ec.created_highlight_v2",
        "org.openstax.ec.interacted_element_v1",
        "org.openstax.ec.nudged_v1",
        "org.openstax.ec.started_session_v1",
    ],
)
def test_every_event_the_api_accepts_is_encoded_and_read_back_unchanged(full_name: str) -> None:
    revision = _latest(full_name)
    outcomes: Counter[int] = Counter()
    client = APIClient()

    @PROPERTY
    @given(event=events(revision.json_schema))
    def accepted_is_readable(event: dict[str, Any]) -> None:
        response = client.post(
            "/api/v0/events", data=json.dumps({"events": [{"data": event}]}), content_type="application/json"
        )
        outcomes[response.status_code] += 1
        _read_back(response, revision, sent=event)

    accepted_is_readable()
    # Most generated events are valid: the property was tried, not skipped by refusals.
    assert outcomes[202] >= EXAMPLES // 2, outcomes


@pytest.mark.parametrize("headers", [{}, {"X-Experience-API-Version": "1.0.3"}], ids=["own contract", "LRS"])
def test_every_statement_the_api_accepts_is_encoded_and_read_back_unchanged(headers: dict[str, str]) -> None:
    revision = _latest(XAPI_STATEMENT)
    outcomes: Counter[int] = Counter()
    client = APIClient()

    @PROPERTY
    @given(statement=statements())
    def accepted_is_readable(statement: dict[str, Any]) -> None:
        response = client.post(XAPI_URL, data=json.dumps(statement), content_type="application/json", headers=headers)
        outcomes[response.status_code] += 1
        kept = _read_back(response, revision, sent=statement)
        if kept is None:
            return
        queued, read = kept
        # The statement rebuilt from what a consumer reads is the one sent, as the service completed it.
        completed = statement_complete(statement, statement_id=queued.record["id"], stored=queued.record["stored"])
        assert statement_rebuilt(_plain(read)) == completed

    accepted_is_readable()
    accepted = outcomes[200] + outcomes[202]
    # Most generated statements are valid (the others hold a NUL character, which the API refuses).
    assert accepted >= EXAMPLES // 2, outcomes


# --- A sample through the consumer examples of other languages ---------------------------------------

# Free text of every plane: Latin-1, a musical symbol and an emoji (both outside the BMP), an
# ideograph, a combining mark.
_TEXT = "plain ü 𝄞 😀 漢 e\u0301"
# (client_clock_occurred_at, client_clock_sent_at): corrected to before year 1 and after 9999 (both
# clamped), and clocks that agree at each end of the calendar.
_CLOCKS = [
    ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"),
    ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _edges(example: dict[str, Any], json_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of one catalogue type at the edges, made from its example: the clocks above, free text
    of every plane wherever the example has text, empty maps, int32's ends sent as floats."""

    def texts(value: Any, schema: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            return {key: texts(item, properties.get(key, {})) for key, item in value.items()}
        if isinstance(value, str) and not {"format", "const", "enum"} & schema.keys():
            return _TEXT
        return value

    properties = json_schema["properties"]
    free = {key: value for key, value in example.items() if key not in ENVELOPE}
    maps = [
        key
        for key, schema in properties.items()
        if schema.get("type") == "object" and "properties" not in schema and key in example
    ]
    built = [
        {**example, "client_clock_occurred_at": occurred, "client_clock_sent_at": sent} for occurred, sent in _CLOCKS
    ]
    built.append({**example, **texts(free, json_schema)})
    if maps:
        built.append({**example, **{key: {} for key in maps}})
    if "session_order" in properties:
        built.append({**example, "session_order": 2147483647.0})
        built.append({**example, "session_order": -2147483648})
    return built


def _plain(value: Any) -> Any:
    """A value read back by fastavro as the consumer examples print it: UUIDs as text, timestamps as
    instants (each language spells ISO 8601 its own way)."""
    if isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes=value))
    if isinstance(value, datetime):
        return value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _printed(value: Any, *, key: str = "") -> Any:
    """A value an example printed, its timestamps (``occurred_at``) read as instants."""
    if isinstance(value, dict):
        return {name: _printed(item, key=name) for name, item in value.items()}
    if isinstance(value, list):
        return [_printed(item) for item in value]
    if key == "occurred_at" and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


@pytest.mark.usefixtures("catalogue")
def test_a_sample_reads_back_the_same_in_the_python_node_and_java_consumers(live_server, own_topics, kafka_topics):
    """Events of every catalogue type at the edges and xAPI statements of many shapes, accepted by
    the API, encoded by the worker's encoder and produced by its producer, read by the Python
    (confluent-kafka), Node.js (kafkajs) and Java (Apache Avro) consumer examples: each prints
    exactly what fastavro reads."""
    # A registrar's type with an Avro long: its ends, and the first integers a double cannot hold
    # (a JavaScript number, which the Node.js example keeps exact as a BigInt).
    counted_type()
    longs = [2**63 - 1, -(2**63), 2**53 + 1, -(2**53) - 1, 0]
    topics_ensure(partitions=settings.KAFKA_TOPIC_PARTITIONS, replication=1)
    client = APIClient()
    records: list[OutgoingRecord] = []
    expected: dict[str, tuple[str, Any]] = {}

    def keep(full_name: str, revision: SchemaRevision) -> None:
        """The event just accepted, encoded and produced as the worker would, and what it reads as."""
        [queued] = queued_events()
        value = encoded(avro_schema=revision.avro_schema_dict, schema_id=revision.pk, record=queued.record)
        read = decoded(avro_schema=revision.avro_schema_dict, value=value)
        assert differences(queued.record, read) == []
        topic = revision.major.topic
        headers: list[tuple[str, str | bytes | None]] = [
            ("event_id", queued.event_id.encode()),
            ("event_type", full_name.encode()),
        ]
        records.append(OutgoingRecord(topic=topic, key=queued.key, value=value, headers=headers))
        expected[queued.event_id] = (topic, _plain(read))

    for full_name in [*_event_types(), COUNTED]:
        revision = _latest(full_name)
        example = nudged(type=COUNTED, count=0) if full_name == COUNTED else revision.major.example
        assert isinstance(example, dict)
        edges = [{**example, "count": count} for count in longs] if full_name == COUNTED else []
        for event in [*_edges(example, revision.json_schema), *edges]:
            response = client.post(
                "/api/v0/events", data=json.dumps({"events": [{"data": event}]}), content_type="application/json"
            )
            assert response.status_code == 202, (event, response.json())
            keep(full_name, revision)

    # Statements of every shape, the same ones each run.
    drawn: list[dict[str, Any]] = []

    @hypothesis_settings(max_examples=16, derandomize=True, database=None, deadline=None)
    @given(statement=statements())
    def draw(statement: dict[str, Any]) -> None:
        drawn.append(statement)

    draw()
    revision = _latest(XAPI_STATEMENT)
    kept = len(expected)
    for statement in drawn:
        response = client.post(XAPI_URL, data=json.dumps(statement), content_type="application/json")
        if response.status_code == 202:
            keep(XAPI_STATEMENT, revision)
    assert len(expected) - kept >= 8
    records_produce(records, timeout=KAFKA_TIMEOUT)

    registry_url = f"{live_server.url}/schema-registry"
    running = {
        name: run_example(command, registry_url=registry_url, group_id=f"{own_topics}{name}", topic_prefix=own_topics)
        for name, command in example_commands().items()
    }
    for name, process in running.items():
        lines, summary = finish_example(name, process)
        assert summary == {"records": len(expected), "duplicates_dropped": 0}, name
        read_by = {line["event_id"]: (line["topic"], _printed(line["value"])) for line in lines}
        assert read_by.keys() == expected.keys(), name
        for event_id, (topic, value) in expected.items():
            assert read_by[event_id] == (topic, value), (name, event_id)
