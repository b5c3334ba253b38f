from __future__ import annotations

import io
import json
import struct
import uuid
from pathlib import Path
from typing import Any

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


# The encoder does not run fastavro's validation (it costs twice the writing); it refuses what the
# writer would write without complaint but wrongly, and leaves the rest to the writer. Together
# they must refuse exactly what fastavro's validation refuses.
ENUM = {"type": "enum", "name": "colour", "symbols": ["red", "green"]}
FIELD_VALUES: list[tuple[Any, list[Any]]] = [
    ("int", [0, 2**31 - 1, -(2**31), 2**31, -(2**31) - 1, True, 1.0, 1.5, "1", None]),
    ("long", [0, 2**63 - 1, -(2**63), 2**63, True, False, 1.0, 1.5, "1", None]),
    ("double", [0, 1.5, -(2**60), True, "1", None]),
    ("float", [1.5, 1e300, False, "1.5"]),
    ("boolean", [True, False, 1, 0, "x", None]),
    ("null", [None, 0, "", False]),
    ("string", ["x", "", 1, None, b"x"]),
    ({"type": "array", "items": "string"}, [[], ["a", "b"], "abc", {"a": 1}, None, ["a", 1], ("a",)]),
    ({"type": "array", "items": "long"}, [[1, 2], [1, True], [1.5], [2**63]]),
    ({"type": "map", "values": "long"}, [{}, {"a": 1}, ["a"], {"a": True}, {"a": 1.5}, {"a": "1"}]),
    ({"type": "map", "values": {"type": "array", "items": "string"}}, [{"a": ["b"]}, {"a": "b"}, {"a": [1]}]),
    (ENUM, ["red", "blue", 1, None]),
    (["null", "int"], [None, 5, 2**31, "5", True]),
    (["null", "string", "long"], [None, "x", 5, 1.5, True]),
    (
        {"type": "record", "name": "inner", "fields": [{"name": "n", "type": "int"}, {"name": "s", "type": "string"}]},
        [{"n": 1, "s": "x"}, {"n": 2**31, "s": "x"}, {"n": 1}, {"n": True, "s": "x"}, "x", None],
    ),
    (
        {"type": "array", "items": {"type": "record", "name": "item", "fields": [{"name": "b", "type": "boolean"}]}},
        [[{"b": True}], [{"b": 1}], [{}]],
    ),
    (
        {
            "type": "record",
            "name": "node",
            "fields": [{"name": "n", "type": "int"}, {"name": "next", "type": ["null", "node"]}],
        },
        [
            {"n": 1, "next": None},
            {"n": 1, "next": {"n": 2, "next": None}},
            {"n": 1, "next": {"n": 2**31, "next": None}},
            {"n": 1, "next": {"n": True, "next": None}},
            {"n": 1, "next": {"n": 2, "next": "x"}},
            {"n": 1, "next": {"next": None}},
        ],
    ),
]


@pytest.mark.parametrize(
    ("field_type", "value"),
    [(field_type, value) for field_type, values in FIELD_VALUES for value in values],
    ids=lambda item: repr(item)[:40],
)
def test_it_refuses_exactly_what_fastavro_validation_refuses(field_type, value):
    schema = {"type": "record", "name": "holder", "namespace": "t", "fields": [{"name": "x", "type": field_type}]}
    valid = fastavro.validation.validate({"x": value}, fastavro.parse_schema(schema), raise_errors=False)
    encoder = Encoder(schema=schema, schema_id=1)

    if valid:
        _, decoded = decode(encoder.encode({"x": value}), schema)
        if field_type != "float":  # 32 bits: 1e300 reads back as infinity
            assert decoded == {"x": list(value) if isinstance(value, tuple) else value}
    else:
        with pytest.raises(EncodingError):
            encoder.encode({"x": value})


def test_a_refusal_says_where_in_the_record():
    schema = {
        "type": "record",
        "name": "outer",
        "namespace": "t",
        "fields": [
            {
                "name": "inner",
                "type": {
                    "type": "record",
                    "name": "inner",
                    "fields": [
                        {
                            "name": "items",
                            "type": {
                                "type": "array",
                                "items": {"type": "record", "name": "item", "fields": [{"name": "n", "type": "int"}]},
                            },
                        }
                    ],
                },
            }
        ],
    }
    record = {"inner": {"items": [{"n": 1}, {"n": 2}, {"n": 2**31}]}}

    with pytest.raises(EncodingError, match=r"^inner\.items\[2\]\.n: 2147483648 is not an Avro int$"):
        Encoder(schema=schema, schema_id=1).encode(record)


UUID_SCHEMA = {
    "type": "record",
    "name": "holder",
    "namespace": "t",
    "fields": [{"name": "u", "type": {"type": "fixed", "name": "uuid", "size": 16}}],
}


@pytest.mark.parametrize(
    "text",
    [
        "ed3cdd93-6688-4fcb-b5b3-da3e71052454",
        "ED3CDD93-6688-4FCB-B5B3-DA3E71052454",
        "{ed3cdd93-6688-4fcb-b5b3-da3e71052454}",
        "urn:uuid:ed3cdd93-6688-4fcb-b5b3-da3e71052454",
        "ed3cdd9366884fcbb5b3da3e71052454",
        "ed3cdd93-6688-4fcb-b5b3-da3e7105245",
        "ed3cdd93-6688-4fcb-b5b3-da3e710524 4",
        "ed3cdd93-6688-4fcb-b5b3-da3e7105245g",
        "ed3cdd93-6688-4fcb-b5b3-da3e7105245 ",
        "",
    ],
)
def test_it_reads_a_uuid_exactly_as_the_uuid_module_does(text):
    encoder = Encoder(schema=UUID_SCHEMA, schema_id=1)
    try:
        expected = uuid.UUID(text).bytes
    except ValueError:
        with pytest.raises(EncodingError, match="is not a UUID"):
            encoder.encode({"u": text})
    else:
        assert decode(encoder.encode({"u": text}), UUID_SCHEMA)[1] == {"u": expected}


def uuids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def test_a_record_that_holds_itself_encodes_and_decodes_with_fastavro():
    schema = {
        "type": "record",
        "name": "link",
        "namespace": "t",
        "fields": [
            {"name": "id", "type": {"type": "fixed", "name": "uuid", "size": 16}},
            {"name": "position", "type": "int"},
            {"name": "next", "type": ["null", "t.link"]},
        ],
    }
    ids = uuids(3)
    record: dict[str, Any] = {
        "id": ids[0],
        "position": 0,
        "next": {"id": ids[1], "position": 1, "next": {"id": ids[2], "position": 2, "next": None}},
    }
    encoder = Encoder(schema=schema, schema_id=5)

    schema_id, decoded = decode(encoder.encode(record), schema)

    assert schema_id == 5
    assert decoded == {
        "id": uuid.UUID(ids[0]).bytes,
        "position": 0,
        "next": {
            "id": uuid.UUID(ids[1]).bytes,
            "position": 1,
            "next": {"id": uuid.UUID(ids[2]).bytes, "position": 2, "next": None},
        },
    }
    record["next"]["next"]["id"] = "not-a-uuid"
    with pytest.raises(EncodingError, match=r"^next\.next\.id: 'not-a-uuid' is not a UUID$"):
        encoder.encode(record)


def test_a_uuid_reached_only_through_a_type_that_refers_back_is_converted_everywhere():
    # "there" holds no UUID of its own, only a way back to "here", which does: both convert.
    schema = {
        "type": "record",
        "name": "here",
        "namespace": "t",
        "fields": [
            {
                "name": "away",
                "type": [
                    "null",
                    {"type": "record", "name": "there", "fields": [{"name": "back", "type": ["null", "t.here"]}]},
                ],
            },
            {"name": "id", "type": {"type": "fixed", "name": "uuid", "size": 16}},
            {"name": "others", "type": {"type": "map", "values": {"type": "array", "items": "t.there"}}},
        ],
    }
    ids = uuids(3)
    record = {
        "away": {"back": {"away": None, "id": ids[1], "others": {}}},
        "id": ids[0],
        "others": {"k": [{"back": {"away": None, "id": ids[2], "others": {}}}, {"back": None}]},
    }

    _, decoded = decode(Encoder(schema=schema, schema_id=1).encode(record), schema)

    assert decoded["away"]["back"]["id"] == uuid.UUID(ids[1]).bytes
    assert decoded["others"]["k"][0]["back"]["id"] == uuid.UUID(ids[2]).bytes
    assert decoded["others"]["k"][1] == {"back": None}


def test_a_chain_of_records_each_referring_twice_to_the_one_before_prepares_and_encodes():
    # Each reference compiled anew would make 2**30 steps of the last record.
    schema: dict[str, Any] = {
        "type": "record",
        "name": "r0",
        "namespace": "t",
        "fields": [{"name": "id", "type": {"type": "fixed", "name": "uuid", "size": 16}}, {"name": "n", "type": "int"}],
    }
    for level in range(1, 30):
        schema = {
            "type": "record",
            "name": f"r{level}",
            "namespace": "t",
            "fields": [{"name": "first", "type": schema}, {"name": "second", "type": ["null", f"t.r{level - 1}"]}],
        }
    ids = uuids(2)
    record: dict[str, Any] = {"id": ids[0], "n": 0}
    for level in range(1, 30):
        second = {"id": ids[1], "n": level} if level == 1 else None
        record = {"first": record, "second": second}

    decoded: Any = decode(Encoder(schema=schema, schema_id=1).encode(record), schema)[1]

    for _ in range(28):
        assert decoded["second"] is None
        decoded = decoded["first"]
    assert decoded == {
        "first": {"id": uuid.UUID(ids[0]).bytes, "n": 0},
        "second": {"id": uuid.UUID(ids[1]).bytes, "n": 1},
    }
