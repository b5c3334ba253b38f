from __future__ import annotations

from typing import Any

import pytest

from registry.presentation import (
    AvroField,
    DiffLine,
    JsonField,
    avro_fields,
    avro_type_label,
    json_schema_fields,
    pretty_json,
    schema_diff,
)

UUID = {"type": "fixed", "name": "uuid", "namespace": "org.openstax.ec", "size": 16}


@pytest.mark.parametrize(
    ("avro_type", "label"),
    [
        ("string", "string"),
        ("org.openstax.ec.uuid", "uuid"),
        (UUID, "uuid"),
        (["null", "org.openstax.ec.uuid"], "?uuid"),
        (["null", UUID], "?uuid"),
        ({"type": "map", "values": "string"}, "map<string>"),
        (["null", {"type": "map", "values": {"type": "array", "items": "string"}}], "?map<array<string>>"),
        ({"type": "array", "items": "org.adlnet.xapi.Agent"}, "array<Agent>"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "timestamp-millis"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}, "decimal(9,2)"),
        ({"type": "enum", "name": "Kind", "symbols": ["a", "b"]}, "enum Kind {a, b}"),
        (["null", "Agent", "Group"], "null | Agent | Group"),
        (["string", "int"], "string | int"),
        ({"type": "string"}, "string"),
    ],
)
def test_avro_types_read_as_in_the_catalogue_docs(avro_type: Any, label: str):
    assert avro_type_label(avro_type) == label


def test_avro_fields_list_nested_records_with_dotted_names_and_defaults():
    schema = {
        "type": "record",
        "name": "changed_state_v1",
        "namespace": "org.openstax.ec",
        "fields": [
            {"name": "session_uuid", "type": UUID, "doc": "The client's session."},
            {
                "name": "source_metadata",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "source_metadata",
                        "fields": [{"name": "scope_id", "type": ["null", "org.openstax.ec.uuid"], "default": None}],
                    },
                ],
                "default": None,
            },
            {"name": "again", "type": ["null", "org.openstax.ec.source_metadata"], "default": None},
            {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        ],
    }

    assert avro_fields(schema) == [
        AvroField("session_uuid", "uuid", "", "The client's session.", 0),
        AvroField("source_metadata", "?source_metadata", "null", "", 0),
        AvroField("source_metadata.scope_id", "?uuid", "null", "", 1),
        AvroField("again", "?source_metadata", "null", "", 0),
        AvroField("again.scope_id", "?uuid", "null", "", 1),
        AvroField("tags", "array<string>", "[]", "", 0),
    ]


def test_avro_fields_name_each_record_of_a_union_and_stop_at_recursion():
    schema = {
        "type": "record",
        "name": "Node",
        "fields": [
            {"name": "next", "type": ["null", "Node"], "default": None},
            {
                "name": "who",
                "type": [
                    {"type": "record", "name": "Agent", "fields": [{"name": "mbox", "type": "string"}]},
                    {
                        "type": "record",
                        "name": "Group",
                        "fields": [{"name": "member", "type": {"type": "array", "items": "Agent"}}],
                    },
                ],
            },
        ],
    }

    assert [(field.name, field.type) for field in avro_fields(schema)] == [
        ("next", "?Node"),
        ("who", "Agent | Group"),
        ("who(Agent).mbox", "string"),
        ("who(Group).member", "array<Agent>"),
        ("who(Group).member[].mbox", "string"),
    ]


def test_json_fields_show_types_formats_requirement_and_nested_objects():
    schema = {
        "type": "object",
        "required": ["session_uuid", "source_metadata"],
        "properties": {
            "type": {"const": "org.openstax.ec.nudged_v1"},
            "session_uuid": {"type": "string", "format": "uuid", "description": "The client's session."},
            "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
            "service_worker": {"type": "string", "enum": ["unsupported", "active"]},
            "source_metadata": {
                "type": "object",
                "required": ["content_id"],
                "properties": {"content_id": {"type": "string", "format": "uuid"}, "index": {"type": "integer"}},
            },
            "members": {"type": "array", "items": {"$ref": "#/$defs/Agent"}},
        },
        "$defs": {"Agent": {"type": "object", "description": "Someone.", "properties": {"name": {"type": "string"}}}},
    }

    assert json_schema_fields(schema) == [
        JsonField("type", 'const "org.openstax.ec.nudged_v1"', False, "", 0),
        JsonField("session_uuid", "string (uuid)", True, "The client's session.", 0),
        JsonField("attributes", "map of string", False, "", 0),
        JsonField("service_worker", 'string: "unsupported", "active"', False, "", 0),
        JsonField("source_metadata", "object", True, "", 0),
        JsonField("source_metadata.content_id", "string (uuid)", True, "", 1),
        JsonField("source_metadata.index", "integer", False, "", 1),
        JsonField("members", "array of Agent", False, "", 0),
        JsonField("members[].name", "string", False, "", 1),
    ]


def test_json_fields_follow_references_and_alternatives_but_not_round_a_cycle():
    schema = {
        "type": "object",
        "properties": {
            "actor": {"$ref": "#/$defs/Actor"},
            "labels": {"$ref": "#/$defs/LanguageMap"},
        },
        "$defs": {
            "LanguageMap": {"type": "object", "additionalProperties": {"type": "string"}, "description": "By tag."},
            "Actor": {"oneOf": [{"$ref": "#/$defs/Agent"}, {"$ref": "#/$defs/Group"}]},
            "Agent": {"type": "object", "properties": {"name": {"type": "string"}}},
            "Group": {"type": "object", "properties": {"leader": {"$ref": "#/$defs/Group"}}},
        },
    }

    assert [(field.name, field.type, field.description) for field in json_schema_fields(schema)] == [
        ("actor", "Actor", ""),
        ("actor(Agent).name", "string", ""),
        ("actor(Group).leader", "Group", ""),
        ("labels", "LanguageMap (map of string)", "By tag."),
    ]


def test_a_schema_diff_marks_added_and_removed_lines_of_the_pretty_schemas():
    old = '{"type":"record","name":"n","fields":[{"name":"a","type":"string"}]}'
    new = {"type": "record", "name": "n", "fields": [{"name": "b", "type": "string"}]}

    diff = schema_diff(old, new, old_label="r1", new_label="r2")

    assert diff[:3] == [DiffLine("header", "--- r1"), DiffLine("header", "+++ r2"), DiffLine("hunk", "@@ -3,7 +3,7 @@")]
    assert [line.text for line in diff if line.kind == "removed"] == ['-      "name": "a",']
    assert [line.text for line in diff if line.kind == "added"] == ['+      "name": "b",']
    assert {line.kind for line in diff[3:]} == {"context", "added", "removed"}


def test_equal_schemas_have_an_empty_diff():
    assert schema_diff({"a": 1}, '{"a": 1}', old_label="r1", new_label="r1") == []


def test_pretty_json_indents_by_two_and_keeps_text_that_is_not_json():
    assert pretty_json('{"a":[1,"é"]}') == '{\n  "a": [\n    1,\n    "é"\n  ]\n}'
    assert pretty_json("not json") == "not json"
