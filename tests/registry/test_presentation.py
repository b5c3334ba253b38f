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


def test_avro_fields_list_nested_records_with_dotted_names_and_defaults_once_per_record():
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
    ]


def chain_of_records(length: int) -> dict[str, Any]:
    """A record whose field types each use the one before twice: written out, 2**length records."""
    fields: list[dict[str, Any]] = [
        {"name": "t0", "type": {"type": "record", "name": "T0", "fields": [{"name": "leaf", "type": "string"}]}}
    ]
    for index in range(1, length):
        twice = [{"name": "a", "type": f"T{index - 1}"}, {"name": "b", "type": f"T{index - 1}"}]
        fields.append({"name": f"t{index}", "type": {"type": "record", "name": f"T{index}", "fields": twice}})
    return {"type": "record", "name": "Chain", "fields": fields}


def test_avro_fields_of_a_chain_of_records_using_each_other_twice_are_listed_once_each():
    rows = avro_fields(chain_of_records(40))

    # 40 fields of the top record, and the fields of each record once: T0's leaf, then a and b.
    assert len(rows) == 40 + 1 + 2 * 39
    assert [(row.name, row.type) for row in rows[:6]] == [
        ("t0", "T0"),
        ("t0.leaf", "string"),
        ("t1", "T1"),
        ("t1.a", "T0"),
        ("t1.b", "T0"),
        ("t2", "T2"),
    ]


def test_json_fields_of_a_chain_of_definitions_using_each_other_twice_are_listed_once_each():
    definitions: dict[str, Any] = {"D0": {"type": "object", "properties": {"leaf": {"type": "string"}}}}
    for index in range(1, 40):
        ref = {"$ref": f"#/$defs/D{index - 1}"}
        definitions[f"D{index}"] = {"type": "object", "properties": {"a": ref, "b": ref}}
    schema = {"type": "object", "properties": {"top": {"$ref": "#/$defs/D39"}}, "$defs": definitions}

    rows = json_schema_fields(schema)

    # The table stops 6 levels down, as it always did; each definition is listed where first used.
    assert [row.name for row in rows] == [
        "top",
        "top.a",
        "top.a.a",
        "top.a.a.a",
        "top.a.a.a.a",
        "top.a.a.a.a.a",
        "top.a.a.a.a.b",
        "top.a.a.a.b",
        "top.a.a.b",
        "top.a.b",
        "top.b",
    ]
    assert rows[-1].type == "D38"


def test_json_type_labels_spell_a_definition_out_once_and_survive_references_in_a_circle():
    definitions: dict[str, Any] = {
        "Text": {"type": "string"},
        "Pair": {"type": "array", "items": {"$ref": "#/$defs/Text"}},
        "Loop": {"$ref": "#/$defs/Back"},
        "Back": {"$ref": "#/$defs/Loop"},
    }
    schema = {
        "type": "object",
        "properties": {
            "first": {"$ref": "#/$defs/Pair"},
            "second": {"$ref": "#/$defs/Pair"},
            "round": {"$ref": "#/$defs/Loop"},
        },
        "$defs": definitions,
    }

    assert [(row.name, row.type) for row in json_schema_fields(schema)] == [
        ("first", "Pair (array of Text (string))"),
        ("second", "Pair"),
        ("round", "Loop (Back (Loop))"),
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
