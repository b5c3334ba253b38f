"""Every shipped org.openstax.ec example is accepted and becomes a record its Avro schema encodes."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from django.conf import settings

from events.identity import Identity
from events.services import batch_prepare
from kafka_bridge.encoding import Encoder, confluent_frame_split
from registry.selectors import schema_revision_get

pytestmark = pytest.mark.usefixtures("catalogue")
EXAMPLES = sorted((Path(settings.BASE_DIR) / "schemas/org/openstax/ec").glob("*/v*/example.json"))
IDENTITY = Identity(
    user_uuid="0b5cbe1b-8c11-4a9c-9d5b-0e3b1f3c9a11",
    device_uuid="5d4c3b2a-1f0e-4d9c-8b7a-665544332211",
    ip_address="203.0.113.9",
    user_agent="Mozilla/5.0 (test)",
)


def test_the_catalogue_ships_an_example_for_every_openstax_event():
    assert len(EXAMPLES) == 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.parent.parent.name + "_" + path.parent.name)
def test_each_example_is_accepted_and_its_record_encodes_and_decodes(path):
    example = json.loads(path.read_text())
    received = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    batch = batch_prepare(events=[example], identity=IDENTITY, received_at=received)

    assert batch.warnings == []
    (event,) = batch.events
    revision = schema_revision_get(schema_id=event.schema_id)
    assert revision is not None
    assert revision.major.full_name == example["type"]
    value = Encoder(schema=revision.avro_schema_dict, schema_id=event.schema_id).encode(event.record)
    schema_id, datum = confluent_frame_split(value)
    decoded = cast(
        dict[str, Any], fastavro.schemaless_reader(io.BytesIO(datum), fastavro.parse_schema(revision.avro_schema_dict))
    )
    assert schema_id == revision.pk
    assert decoded["session_uuid"] == uuid.UUID(example["session_uuid"]).bytes
    assert decoded["user_uuid"] == uuid.UUID(IDENTITY.user_uuid).bytes
    assert decoded["device_uuid"] == uuid.UUID(IDENTITY.device_uuid).bytes
    assert decoded["scheme"] in ("http", "https")
    assert [field["name"] for field in revision.avro_schema_dict["fields"]] == list(decoded)
    for name, sent in example.items():
        if name in decoded and not isinstance(sent, dict) and name != "session_uuid":
            assert decoded[name] == sent, name
    if "ip_address" in decoded:
        assert (decoded["ip_address"], decoded["user_agent"]) == ("203.0.113.9", "Mozilla/5.0 (test)")


def test_a_client_cannot_set_server_fields_or_avro_only_fields():
    example = json.loads(
        (Path(settings.BASE_DIR) / "schemas/org/openstax/ec/interacted_element/v1/example.json").read_text()
    )
    forged = {**example, "user_uuid": str(uuid.uuid4()), "ip_address": "1.2.3.4", "context_state_change": "x"}

    batch = batch_prepare(events=[forged], identity=IDENTITY, received_at=datetime.now(UTC))

    record = batch.events[0].record
    assert record["user_uuid"] == IDENTITY.user_uuid
    assert record["context_state_change"] is None
    assert "ip_address" not in record
    assert batch.warnings == [
        "Event [0]: unknown field 'context_state_change' was dropped",
        "Event [0]: unknown field 'ip_address' was dropped",
        "Event [0]: unknown field 'user_uuid' was dropped",
    ]


def test_a_batch_of_events_of_several_types_and_pages_in_turn_gives_each_event_its_own_page_and_fields():
    examples = [json.loads(path.read_text()) for path in EXAMPLES[:2]]
    pages = ["https://openstax.org/books/a/pages/1?x=1", "http://localhost:8000/b"]
    sent = [{**examples[index % 2], "source_uri": pages[index // 2 % 2], "session_order": index} for index in range(6)]

    batch = batch_prepare(events=sent, identity=IDENTITY, received_at=datetime.now(UTC))

    assert [event.record["host"] for event in batch.events] == [
        "openstax.org",
        "openstax.org",
        "localhost",
        "localhost",
        "openstax.org",
        "openstax.org",
    ]
    for event, data in zip(batch.events, sent, strict=True):
        revision = schema_revision_get(schema_id=event.schema_id)
        assert revision is not None
        assert revision.major.full_name == data["type"]
        assert event.record["session_order"] == data["session_order"]
        assert set(event.record) == {field["name"] for field in revision.avro_schema_dict["fields"]}
