from __future__ import annotations

import io
import json
import struct
import uuid
from pathlib import Path

import fastavro
import pytest

from kafka_bridge.encoding import Encoder, EncodingError, confluent_frame_split
from tests import factories

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
NUDGED = json.loads((SCHEMAS / "org/openstax/ec/nudged/v1/avro.avsc").read_text())
SESSION = "ed3cdd93-6688-4fcb-b5b3-da3e71052454"


USER = "0b5cbe1b-8c11-4a9c-9d5b-0e3b1f3c9a11"


def nudged_record(**overrides):
    return factories.nudged_record(user_uuid=USER, **overrides)


def decode(value: bytes, schema=NUDGED):
    schema_id, datum = confluent_frame_split(value)
    return schema_id, fastavro.schemaless_reader(io.BytesIO(datum), fastavro.parse_schema(schema))


def test_it_frames_values_with_the_magic_byte_and_the_big_endian_schema_id():
    value = Encoder(schema=NUDGED, schema_id=258).encode(nudged_record())
    assert value[:5] == b"\x00" + struct.pack(">I", 258) == b"\x00\x00\x00\x01\x02"


def test_it_writes_uuids_as_their_16_raw_bytes():
    schema_id, decoded = decode(Encoder(schema=NUDGED, schema_id=7).encode(nudged_record()))
    assert schema_id == 7
    assert decoded["session_uuid"] == uuid.UUID(SESSION).bytes
    assert decoded["user_uuid"] == uuid.UUID(USER).bytes
    assert decoded["device_uuid"] is None
    assert decoded["query"] == {"book_id": ["34343"]}
    assert int(decoded["occurred_at"].timestamp() * 1000) == 1602008062000


def test_it_converts_uuids_inside_nested_records_arrays_and_maps():
    schema = {
        "type": "record",
        "name": "outer",
        "namespace": "t",
        "fields": [
            {"name": "id", "type": {"type": "fixed", "name": "uuid", "size": 16}},
            {
                "name": "inner",
                "type": ["null", {"type": "record", "name": "inner", "fields": [{"name": "u", "type": "uuid"}]}],
            },
            {"name": "many", "type": {"type": "array", "items": "t.uuid"}},
            {"name": "byname", "type": {"type": "map", "values": "uuid"}},
        ],
    }
    ids = [str(uuid.uuid4()) for _ in range(4)]
    record = {"id": ids[0], "inner": {"u": ids[1]}, "many": [ids[2]], "byname": {"k": ids[3]}}
    _, decoded = decode(Encoder(schema=schema, schema_id=1).encode(record), schema)
    assert decoded == {
        "id": uuid.UUID(ids[0]).bytes,
        "inner": {"u": uuid.UUID(ids[1]).bytes},
        "many": [uuid.UUID(ids[2]).bytes],
        "byname": {"k": uuid.UUID(ids[3]).bytes},
    }


@pytest.mark.parametrize(
    "overrides",
    [{"session_uuid": "not-a-uuid"}, {"session_order": "42"}, {"session_order": 2**31}, {"app": None}],
)
def test_it_raises_an_encoding_error_for_a_record_that_does_not_fit(overrides):
    with pytest.raises(EncodingError):
        Encoder(schema=NUDGED, schema_id=1).encode(nudged_record(**overrides))


def test_it_refuses_to_split_a_value_without_confluent_framing():
    with pytest.raises(EncodingError):
        confluent_frame_split(b"\x01\x00\x00\x00\x01abc")
