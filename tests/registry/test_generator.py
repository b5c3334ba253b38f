from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

from registry.generator import GeneratorError, avro_schema_generate, avro_section_parse

FULL_NAME = "org.example.ev.tested_v1"
UUID = {"type": "string", "format": "uuid"}
INT32 = {"type": "integer", "minimum": -2147483648, "maximum": 2147483647}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SOURCE_METADATA = {
    "type": "object",
    "title": "source_metadata",
    "required": ["content_id"],
    "properties": {"content_id": UUID, "content_index": INT32},
}

# The walking skeleton's hand-written nudged_v1 schema, before the generator existed.
HANDWRITTEN_NUDGED = {
    "type": "record",
    "name": "nudged_v1",
    "namespace": "org.openstax.ec",
    "fields": [
        {
            "name": "device_uuid",
            "type": ["null", {"type": "fixed", "name": "uuid", "namespace": "org.openstax.ec", "size": 16}],
            "default": None,
        },
        {"name": "user_uuid", "type": ["null", "org.openstax.ec.uuid"], "default": None},
        {"name": "session_uuid", "type": "org.openstax.ec.uuid"},
        {"name": "session_order", "type": "int"},
        {"name": "scheme", "type": "string"},
        {"name": "host", "type": "string"},
        {"name": "path", "type": "string"},
        {
            "name": "query",
            "type": ["null", {"type": "map", "values": {"type": "array", "items": "string"}}],
            "default": None,
        },
        {"name": "app", "type": "string"},
        {"name": "target", "type": "string"},
        {"name": "context", "type": "string"},
        {"name": "flavor", "type": "string"},
        {"name": "medium", "type": "string"},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def generate(properties, *, required=(), fields=None, description=None, **avro):
    json_schema = {"type": "object", "required": list(required), "properties": properties}
    if description:
        json_schema["description"] = description
    section = {"fields": list(properties) if fields is None else fields, **avro}
    return avro_schema_generate(json_schema=json_schema, full_name=FULL_NAME, avro=section)


def field_types(schema):
    return {field["name"]: field["type"] for field in schema["fields"]}


def canonical(schema):
    return to_parsing_canonical_form(parse_schema(schema))


def test_a_uuid_string_becomes_the_named_fixed_defined_at_its_first_use_then_referenced_by_full_name():
    schema = generate({"first": UUID, "second": UUID, "third": UUID}, required=["first", "second"])

    assert field_types(schema) == {
        "first": {"type": "fixed", "name": "uuid", "namespace": "org.example.ev", "size": 16},
        "second": "org.example.ev.uuid",
        "third": ["null", "org.example.ev.uuid"],
    }


def test_the_uuid_type_is_defined_depth_first_inside_the_first_record_that_uses_it():
    schema = generate({"meta": SOURCE_METADATA, "later": UUID}, required=["meta", "later"])

    meta_fields = field_types(schema)["meta"]["fields"]
    assert meta_fields[0]["type"] == {"type": "fixed", "name": "uuid", "namespace": "org.example.ev", "size": 16}
    assert field_types(schema)["later"] == "org.example.ev.uuid"


@pytest.mark.parametrize(
    ("integer", "avro_type"),
    [
        (INT32, "int"),
        ({"type": "integer", "minimum": 0, "maximum": 100}, "int"),
        ({"type": "integer", "exclusiveMinimum": -2147483649, "exclusiveMaximum": 2147483648}, "int"),
        ({"type": "integer"}, "long"),
        ({"type": "integer", "minimum": 0}, "long"),
        ({"type": "integer", "minimum": 0, "maximum": 2147483648}, "long"),
        ({"type": "integer", "minimum": -2147483649, "maximum": 0}, "long"),
        ({"type": "integer", "exclusiveMinimum": -2147483650, "maximum": 0}, "long"),
    ],
)
def test_an_integer_bounded_to_int32_becomes_int_and_any_other_integer_long(integer, avro_type):
    assert field_types(generate({"count": integer}, required=["count"]))["count"] == avro_type


@pytest.mark.parametrize(
    ("json_type", "avro_type"),
    [
        ({"type": "string"}, "string"),
        ({"type": "string", "format": "date-time"}, "string"),
        ({"type": "string", "enum": ["a", "b"]}, "string"),
        ({"enum": ["a", "b"]}, "string"),
        ({"type": "number"}, "double"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "array", "items": {"type": "string"}}, {"type": "array", "items": "string"}),
        ({"type": "array", "items": INT32}, {"type": "array", "items": "int"}),
    ],
)
def test_scalar_and_array_types_map_to_their_avro_types(json_type, avro_type):
    assert field_types(generate({"value": json_type}, required=["value"]))["value"] == avro_type


def test_an_optional_property_becomes_a_null_first_union_with_default_null_and_a_required_one_stays_plain():
    schema = generate({"maybe": {"type": "string"}, "surely": {"type": "string"}}, required=["surely"])

    assert schema["fields"] == [
        {"name": "maybe", "type": ["null", "string"], "default": None},
        {"name": "surely", "type": "string"},
    ]


def test_an_object_with_only_string_additional_properties_becomes_a_map_of_string():
    schema = generate({"attributes": STRING_MAP, "optional_attributes": STRING_MAP}, required=["attributes"])

    assert field_types(schema) == {
        "attributes": {"type": "map", "values": "string"},
        "optional_attributes": ["null", {"type": "map", "values": "string"}],
    }


def test_a_titled_object_becomes_a_named_record_in_the_event_namespace_defined_once_then_referenced():
    schema = generate({"meta": SOURCE_METADATA, "other_meta": SOURCE_METADATA}, required=["meta"])

    assert field_types(schema) == {
        "meta": {
            "type": "record",
            "name": "source_metadata",
            "namespace": "org.example.ev",
            "fields": [
                {
                    "name": "content_id",
                    "type": {"type": "fixed", "name": "uuid", "namespace": "org.example.ev", "size": 16},
                },
                {"name": "content_index", "type": ["null", "int"], "default": None},
            ],
        },
        "other_meta": ["null", "org.example.ev.source_metadata"],
    }


def test_two_different_objects_with_one_title_are_refused():
    different = {**SOURCE_METADATA, "required": []}

    with pytest.raises(GeneratorError, match=r"source_metadata is defined twice, differently"):
        generate({"meta": SOURCE_METADATA, "other_meta": different})


def test_two_definitions_of_one_record_that_differ_only_in_descriptions_are_one_record():
    described = {**SOURCE_METADATA, "description": "Where the event happened."}

    schema = generate({"meta": SOURCE_METADATA, "other_meta": described})

    assert field_types(schema)["other_meta"] == ["null", "org.example.ev.source_metadata"]


def test_nullable_makes_a_json_required_property_a_null_first_union_in_avro():
    schema = generate({"meta": SOURCE_METADATA}, required=["meta"], nullable=["meta"])

    field = schema["fields"][0]
    assert field["type"][0] == "null"
    assert field["type"][1]["name"] == "source_metadata"
    assert field["default"] is None


def test_always_null_adds_an_avro_only_field_as_a_null_first_union_with_default_null():
    schema = generate(
        {"region": {"type": "string"}},
        fields=["region", "state_change"],
        always_null={"state_change": "string"},
    )

    assert schema["fields"][1] == {
        "name": "state_change",
        "doc": "Not accepted from clients: always null.",
        "type": ["null", "string"],
        "default": None,
    }


def test_fields_come_out_in_the_order_avro_fields_lists_them_whatever_the_property_order():
    schema = generate(
        {"b": {"type": "string"}, "a": {"type": "string"}},
        fields=["a", "device_uuid", "occurred_at", "b", "query"],
    )

    assert [field["name"] for field in schema["fields"]] == ["a", "device_uuid", "occurred_at", "b", "query"]


def test_server_fields_get_the_avro_types_of_events_md():
    fields = ["device_uuid", "user_uuid", "scheme", "host", "path", "query", "occurred_at", "ip_address", "user_agent"]

    schema = generate({}, fields=fields)

    uuid = {"type": "fixed", "name": "uuid", "namespace": "org.example.ev", "size": 16}
    assert [(field["name"], field["type"], field.get("default", "no default")) for field in schema["fields"]] == [
        ("device_uuid", ["null", uuid], None),
        ("user_uuid", ["null", "org.example.ev.uuid"], None),
        ("scheme", "string", "no default"),
        ("host", "string", "no default"),
        ("path", "string", "no default"),
        ("query", ["null", {"type": "map", "values": {"type": "array", "items": "string"}}], None),
        ("occurred_at", {"type": "long", "logicalType": "timestamp-millis"}, "no default"),
        ("ip_address", "string", "no default"),
        ("user_agent", "string", "no default"),
    ]


def test_the_envelope_fields_the_server_consumes_never_reach_avro():
    envelope = {
        "type": {"const": FULL_NAME},
        "client_clock_occurred_at": {"type": "string", "format": "date-time"},
        "client_clock_sent_at": {"type": "string", "format": "date-time"},
        "source_uri": {"type": "string", "format": "uri"},
        "session_uuid": UUID,
    }

    schema = generate(envelope, required=list(envelope), fields=["session_uuid", "scheme", "occurred_at"])

    assert [field["name"] for field in schema["fields"]] == ["session_uuid", "scheme", "occurred_at"]


def test_descriptions_become_docs_in_readable_key_order_without_changing_the_canonical_form():
    properties = {"app": {"type": "string", "description": "The app."}}

    with_docs = generate(properties, required=["app"], description="Something happened.")
    without_docs = generate({"app": {"type": "string"}}, required=["app"])

    assert list(with_docs) == ["type", "name", "namespace", "doc", "fields"]
    assert with_docs["doc"] == "Something happened."
    assert with_docs["fields"] == [{"name": "app", "doc": "The app.", "type": "string"}]
    assert list(without_docs) == ["type", "name", "namespace", "fields"]
    assert canonical(with_docs) == canonical(without_docs)


def test_the_generated_nudged_schema_is_canonically_the_handwritten_one():
    folder = Path(settings.BASE_DIR) / "schemas/org/openstax/ec/nudged/v1"
    json_schema = json.loads((folder / "schema.json").read_text())
    meta = json.loads((folder / "event.json").read_text())

    generated = avro_schema_generate(json_schema=json_schema, full_name="org.openstax.ec.nudged_v1", avro=meta["avro"])

    assert canonical(generated) == canonical(HANDWRITTEN_NUDGED)


def test_a_payload_property_missing_from_fields_is_refused_because_its_data_would_be_lost():
    with pytest.raises(GeneratorError, match=r"data would be lost: \['forgotten'\]"):
        generate({"kept": {"type": "string"}, "forgotten": {"type": "string"}}, fields=["kept"])


def test_an_unknown_name_in_fields_is_refused():
    with pytest.raises(GeneratorError, match=r"avro.fields names 'mystery'"):
        generate({"kept": {"type": "string"}}, fields=["kept", "mystery"])


def test_a_consumed_envelope_field_in_fields_is_refused():
    with pytest.raises(GeneratorError, match=r"source_uri is consumed by the server"):
        generate({"source_uri": {"type": "string"}}, fields=["source_uri"])


def test_a_payload_property_named_like_a_server_field_is_refused():
    with pytest.raises(GeneratorError, match=r"user_uuid are server fields"):
        generate({"user_uuid": UUID})


def test_a_field_listed_twice_is_refused():
    with pytest.raises(GeneratorError, match=r"names app more than once"):
        generate({"app": {"type": "string"}}, fields=["app", "app"])


def test_nullable_on_a_property_that_json_already_makes_optional_is_refused():
    with pytest.raises(GeneratorError, match=r"avro.nullable must name JSON-required payload properties"):
        generate({"meta": SOURCE_METADATA}, nullable=["meta"])


def test_an_always_null_field_missing_from_fields_is_refused():
    with pytest.raises(GeneratorError, match=r"always_null fields missing from avro.fields: \['gone'\]"):
        generate({}, fields=["occurred_at"], always_null={"gone": "string"})


def test_an_always_null_type_that_is_not_avro_is_refused():
    with pytest.raises(GeneratorError, match=r"does not parse"):
        generate({}, fields=["gone"], always_null={"gone": "strnig"})


@pytest.mark.parametrize(
    ("json_type", "message"),
    [
        ({"type": ["string", "null"]}, r"JSON type \['string', 'null'\] cannot be mapped"),
        ({"type": "null"}, r"JSON type 'null' cannot be mapped"),
        ({"description": "anything"}, r"JSON type None cannot be mapped"),
        ({"type": "object"}, r"an object needs `properties` and a `title`"),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, r"an object with properties needs a `title`"),
        ({"type": "array"}, r"an array needs an `items` schema"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, r"oneOf cannot be mapped"),
        ({"$ref": "#/$defs/thing"}, r"\$ref cannot be mapped"),
    ],
)
def test_a_json_type_without_an_avro_mapping_is_refused_naming_the_property(json_type, message):
    with pytest.raises(GeneratorError, match=rf"value: {message}"):
        generate({"value": json_type})


def test_a_property_name_that_is_not_an_avro_name_is_refused():
    with pytest.raises(GeneratorError, match=r"'content-id' is not a valid Avro field name"):
        generate({"content-id": {"type": "string"}})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"fields": ["a"], "nulable": ["a"]}, r"unknown keys: nulable"),
        ({"fields": "a"}, r"avro.fields must be a list of field names"),
        ({"fields": []}, r"avro.fields must list the record's fields"),
        ({"handwritten": True, "fields": ["a"]}, r"a handwritten avro section has no fields"),
        ([], r"needs an `avro` object"),
    ],
)
def test_a_malformed_avro_section_is_refused(section, message):
    with pytest.raises(GeneratorError, match=message):
        avro_section_parse(section)


def test_a_handwritten_section_cannot_be_generated():
    with pytest.raises(GeneratorError, match=r"handwritten, not generated"):
        avro_schema_generate(
            json_schema={"type": "object", "properties": {}}, full_name=FULL_NAME, avro={"handwritten": True}
        )


def test_a_full_name_without_a_namespace_is_refused():
    with pytest.raises(GeneratorError, match=r"'tested_v1' is not a namespaced Avro full name"):
        avro_schema_generate(
            json_schema={"type": "object", "properties": {}}, full_name="tested_v1", avro={"fields": ["host"]}
        )
