"""The checks that keep a revision from poisoning delivery, as pure functions: no database.

Each refusal is asserted by its whole message, which names the path it concerns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry.avro import avro_schema_full_name
from registry.generator import CONSUMED_FIELDS, SERVER_FIELDS
from registry.record_fit import (
    _SERVER_VALUES,
    ENVELOPE_FIELDS,
    MAX_EXPANDED_NODES,
    MAX_NESTING,
    XAPI_STATEMENT,
    avro_expanded_size,
    avro_type_problems,
    record_fit_problems,
)

CATALOGUE = Path(__file__).resolve().parents[2] / "schemas"
FOLDERS = sorted(path.parent for path in CATALOGUE.rglob("schema.json"))
XAPI_REVISION_1 = Path(__file__).resolve().parents[1] / "data/xapi_revision_1/org/adlnet/xapi/Statement/v1"
NUDGED = "org.openstax.ec.nudged_v1"
STUDYGUIDE = "org.openstax.ec.accessed_studyguide_v1"


def folder_pair(relative: str) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = CATALOGUE / relative
    return (
        json.loads((folder / "schema.json").read_text(encoding="utf-8")),
        json.loads((folder / "avro.avsc").read_text(encoding="utf-8")),
    )


def nudged_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    return folder_pair("org/openstax/ec/nudged/v1")


def xapi_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    return folder_pair("org/adlnet/xapi/Statement/v1")


def nudged_with(
    *,
    properties: dict[str, Any] | None = None,
    fields: list[dict[str, Any]] | None = None,
    required: tuple[str, ...] = (),
) -> list[str]:
    """The problems of nudged_v1 with ``properties`` added to its JSON schema (``required`` among
    them) and ``fields`` added to its Avro record (in place of fields of the same name)."""
    json_schema, avro = nudged_pair()
    json_schema["properties"].update(properties or {})
    json_schema["required"] += list(required)
    for field in fields or []:
        names = [existing["name"] for existing in avro["fields"]]
        if field["name"] in names:
            avro["fields"][names.index(field["name"])] = field
        else:
            avro["fields"].append(field)
    return record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED)


def optional(name: str, avro_type: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "default": None}


def record(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields)}


def chain_of_records(length: int) -> dict[str, Any]:
    """nudged_v1 with optional fields t0, t1, ... of records T0, T1, ... each using the one before
    twice: written out, T<n> holds 2**n T0s."""
    _, avro = nudged_pair()
    avro["fields"].append(optional("t0", record("T0", {"name": "leaf", "type": "string"})))
    for index in range(1, length):
        previous = f"org.openstax.ec.T{index - 1}"
        links = record(f"T{index}", {"name": "a", "type": previous}, {"name": "b", "type": previous})
        avro["fields"].append(optional(f"t{index}", links))
    return avro


# --- The shipped catalogue -----------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: str(folder.relative_to(CATALOGUE)))
def test_every_shipped_catalogue_folder_passes_every_check(folder):
    json_schema, avro = folder_pair(str(folder.relative_to(CATALOGUE)))

    assert avro_type_problems(avro) == []
    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=avro_schema_full_name(avro)) == []


def test_the_catalogue_has_every_folder_the_check_is_run_on():
    assert len(FOLDERS) == 8


def test_the_largest_schemas_are_far_below_the_bound():
    # 980 nodes for revision 1 of the xAPI statement (kept in tests/data), 2,118 for revision 2.
    revision_1 = json.loads((XAPI_REVISION_1 / "avro.avsc").read_text(encoding="utf-8"))
    for avro in (revision_1, xapi_pair()[1]):
        size = avro_expanded_size(avro)
        assert size is not None
        assert size * 4 < MAX_EXPANDED_NODES


def test_the_check_knows_what_the_server_writes_in_each_of_its_fields():
    assert set(_SERVER_VALUES) == set(SERVER_FIELDS)
    assert set(ENVELOPE_FIELDS) >= CONSUMED_FIELDS


# --- Recursive and oversized Avro types ----------------------------------------------------------


def test_it_refuses_a_record_that_refers_to_itself():
    _, avro = nudged_pair()
    avro["fields"].append(optional("next", NUDGED))

    assert avro_type_problems(avro) == [f"recursive types are not supported: {NUDGED} → {NUDGED}"]


def test_it_refuses_types_that_refer_to_each_other_and_names_the_circle():
    _, avro = nudged_pair()
    back = optional("a", "org.openstax.ec.A")
    avro["fields"].append(optional("a", record("A", optional("b", record("B", back)))))

    assert avro_type_problems(avro) == [
        "recursive types are not supported: org.openstax.ec.A → org.openstax.ec.B → org.openstax.ec.A"
    ]
    assert avro_expanded_size(avro) is None


def test_it_refuses_a_union_in_which_a_uuid_stands_beside_another_type():
    _, avro = nudged_pair()
    avro["fields"].append({"name": "or_text", "type": ["null", "org.openstax.ec.uuid", "string"], "default": None})
    holder = record("Holder", {"name": "id", "type": "org.openstax.ec.uuid"})
    avro["fields"].append({"name": "or_count", "type": ["null", holder, "long"], "default": None})
    avro["fields"].append(optional("listed", {"type": "array", "items": ["org.openstax.ec.Holder", "string"]}))

    assert avro_type_problems(avro) == [
        f"{NUDGED}.{name}: a union in which a UUID (a 16-byte fixed) stands beside another type than null is "
        "not supported: a UUID's text is written as its 16 bytes only where nothing else but null can be meant"
        for name in ("or_text", "or_count", "listed")
    ]


def test_a_uuid_beside_null_alone_and_unions_without_uuids_pass():
    _, avro = nudged_pair()
    avro["fields"].append(optional("maybe", "org.openstax.ec.uuid"))
    avro["fields"].append({"name": "either", "type": ["null", "string", "long"], "default": None})

    assert avro_type_problems(avro) == []


def test_it_counts_the_nodes_of_a_schema_with_its_named_types_written_out():
    _, plain = nudged_pair()
    base = avro_expanded_size(plain)
    assert base is not None

    # T0: record, field, string = 3; T1: record, 2 fields, twice T0 = 9; T2: 3 + twice 9 = 21; each
    # added field of the top record: the field, its union, null and the record.
    assert avro_expanded_size(chain_of_records(3)) == base + 3 * 3 + 3 + 9 + 21


def test_it_refuses_a_schema_past_the_bound_once_named_types_are_written_out():
    avro = chain_of_records(3)
    size = avro_expanded_size(avro)
    assert size is not None

    assert avro_type_problems(avro, max_nodes=size) == []
    assert avro_type_problems(avro, max_nodes=size - 1) == [
        "the Avro schema is too large once each named type is written out where it is used: "
        f"{size} types and fields, at most {size - 1} are allowed"
    ]


def test_it_refuses_a_chain_of_types_each_using_the_next_twice_without_writing_it_out():
    # Written out: about 2**60 nodes. The check counts each type once, so it answers at once.
    assert avro_type_problems(chain_of_records(60)) == [
        "the Avro schema is too large once each named type is written out where it is used: "
        "more than 100,000 types and fields, at most 10,000 are allowed"
    ]


# --- Server fields and the envelope --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVER_FIELDS))
def test_it_refuses_a_json_schema_that_lets_clients_set_a_server_field(name):
    problems = nudged_with(properties={name: {"type": "string"}})

    assert (
        f"{name}: the server sets this field, so the JSON schema must not define it (clients could set it themselves)"
        in problems
    )


def test_the_xapi_statement_has_no_server_fields_nor_envelope():
    json_schema, avro = xapi_pair()
    json_schema["properties"]["ip_address"] = {"type": "string"}
    avro["fields"].append(optional("ip_address", "string"))

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=XAPI_STATEMENT) == []


@pytest.mark.parametrize("name", ENVELOPE_FIELDS)
def test_it_refuses_an_event_schema_that_does_not_require_the_envelope(name):
    json_schema, avro = nudged_pair()
    json_schema["required"].remove(name)

    problems = record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED)

    assert f"{name}: the server reads it from every event, so the JSON schema must require it" in problems


@pytest.mark.parametrize(
    ("name", "schema", "problem"),
    [
        (
            "source_uri",
            {"type": ["string", "null"]},
            "source_uri: the server reads it as text, so the JSON schema must allow strings only",
        ),
        ("type", {}, "type: the server reads it as text, so the JSON schema must allow strings only"),
        (
            "session_uuid",
            {"type": "integer"},
            "session_uuid: the server reads it as text, so the JSON schema must allow strings only",
        ),
        (
            "client_clock_sent_at",
            {"type": "string"},
            "client_clock_sent_at: the server reads it as an RFC 3339 date-time, so the JSON schema must say "
            "format: date-time",
        ),
    ],
)
def test_it_refuses_an_envelope_the_server_cannot_read(name, schema, problem):
    assert problem in nudged_with(properties={name: schema})


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        (
            {"name": "occurred_at", "type": "long"},
            "occurred_at: the server writes milliseconds since the epoch (a long with logicalType timestamp-millis) "
            "there, which the Avro field long cannot hold",
        ),
        (
            {"name": "ip_address", "type": "int"},
            "ip_address: the server writes text there, which the Avro field int cannot hold",
        ),
        (
            {
                "name": "device_uuid",
                "type": {"type": "fixed", "name": "uuid", "namespace": "org.openstax.ec", "size": 16},
            },
            "device_uuid: the server writes a UUID or null there, which the Avro field uuid cannot hold",
        ),
        (
            optional("query", {"type": "map", "values": "string"}),
            "query: the server writes null or a map of lists of text there, which the Avro field ?map<string> "
            "cannot hold",
        ),
    ],
)
def test_it_refuses_a_server_field_whose_avro_type_cannot_hold_what_the_server_writes(field, problem):
    assert nudged_with(fields=[field]) == [problem]


def test_server_fields_of_the_servers_types_pass():
    fields = [
        optional("ip_address", "string"),
        {"name": "user_agent", "type": "string"},
        {"name": "occurred_at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
    ]
    assert nudged_with(fields=fields) == []


def test_an_envelope_field_in_the_record_must_hold_null_since_the_server_writes_none_there():
    assert nudged_with(fields=[{"name": "source_uri", "type": "string"}]) == [
        "source_uri: the server reads source_uri and never writes it into the record, which holds null there, "
        "but the Avro field is string"
    ]
    assert nudged_with(fields=[optional("source_uri", "string")]) == []


# --- Values into types ---------------------------------------------------------------------------


def test_it_refuses_integers_beyond_int32_in_an_avro_int_and_names_the_field():
    assert nudged_with(properties={"session_order": {"type": "integer"}}) == [
        "session_order: the JSON schema allows integers beyond int32 but the Avro field is int"
    ]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
        {"type": "integer", "exclusiveMinimum": -(2**31) - 1, "exclusiveMaximum": 2**31},
        {"enum": [0, 1, 2]},
        {"const": 7},
    ],
)
def test_integers_bounded_to_int32_fit_an_avro_int(schema):
    assert nudged_with(properties={"session_order": schema}) == []


def test_any_integer_fits_an_avro_long_and_bounded_ones_a_double():
    fields = [optional("count", "long"), optional("ratio", "double")]
    properties = {"count": {"type": "integer"}, "ratio": {"type": "integer", "minimum": 0, "maximum": 100}}
    assert nudged_with(properties=properties, fields=fields) == []
    assert nudged_with(properties={"ratio": {"type": "integer"}}, fields=fields) == [
        "ratio: the JSON schema allows integers beyond 2^53, which a double does not hold exactly, but the Avro "
        "field is ?double; use long"
    ]


@pytest.mark.parametrize(
    ("avro_type", "problem"),
    [
        ("double", None),
        (
            "float",
            "score: the JSON schema allows numbers, which a 32-bit float does not hold exactly, but the Avro field "
            "is ?float; use double",
        ),
        ("long", "score: the JSON schema allows numbers with a fraction but the Avro field is ?long"),
        ("string", "score: the JSON schema allows numbers but the Avro field is ?string"),
    ],
)
def test_a_json_number_fits_only_an_avro_double(avro_type, problem):
    problems = nudged_with(properties={"score": {"type": "number"}}, fields=[optional("score", avro_type)])
    assert problems == ([problem] if problem else [])


def test_strings_fit_an_avro_enum_only_when_every_value_is_a_symbol():
    mood = {"type": "enum", "name": "Mood", "symbols": ["calm", "busy"]}
    assert nudged_with(properties={"mood": {"enum": ["busy", "calm"]}}, fields=[optional("mood", mood)]) == []
    assert nudged_with(properties={"mood": {"enum": ["calm", "odd"]}}, fields=[optional("mood", mood)]) == [
        "mood: the JSON schema allows 'odd', which the Avro enum Mood lacks"
    ]
    assert nudged_with(properties={"mood": {"type": "string"}}, fields=[optional("mood", mood)]) == [
        "mood: the JSON schema allows any string but the Avro enum Mood holds only calm, busy"
    ]


def test_strings_fit_the_uuid_fixed_only_with_format_uuid():
    assert (
        nudged_with(
            properties={"context": {"type": "string", "format": "uuid"}},
            fields=[optional("context", "org.openstax.ec.uuid")],
        )
        == []
    )
    assert nudged_with(
        properties={"context": {"type": "string"}}, fields=[optional("context", "org.openstax.ec.uuid")]
    ) == [
        "context: the JSON schema allows any string but the Avro type is the 16-byte fixed uuid, which holds only "
        "UUIDs: add format: uuid"
    ]


def test_null_needs_an_avro_union_with_null():
    assert nudged_with(properties={"app": {"type": ["string", "null"]}}) == [
        "app: the JSON schema allows null but the Avro field is string"
    ]
    assert nudged_with(properties={"app": {"type": ["string", "null"]}}, fields=[optional("app", "string")]) == []


def test_a_top_level_property_clients_may_leave_out_needs_a_field_that_holds_null():
    json_schema, avro = nudged_pair()
    json_schema["required"].remove("app")

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == [
        "app: clients may leave it out (the JSON schema does not require it), and the record then holds null, "
        "but the Avro field is string"
    ]


def test_a_record_field_no_value_fills_must_hold_null_at_the_top():
    assert nudged_with(fields=[{"name": "mood", "type": "string", "default": "calm"}]) == [
        "mood: no value clients send fills it, so the record holds null there, but the Avro field is string"
    ]
    assert nudged_with(fields=[optional("mood", "string")]) == []


def test_a_property_the_avro_record_lacks_is_allowed_at_the_top_where_the_edge_warns():
    assert nudged_with(properties={"note": {"type": "string"}}) == []


def test_inside_a_record_a_property_clients_may_leave_out_needs_a_default_or_null():
    json_schema, avro = folder_pair("org/openstax/ec/accessed_studyguide/v1")
    [metadata] = [field for field in avro["fields"] if field["name"] == "source_metadata"]
    [content_index] = [field for field in metadata["type"][1]["fields"] if field["name"] == "content_index"]
    content_index.update(type="int")
    del content_index["default"]

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=STUDYGUIDE) == [
        "source_metadata.content_index: the JSON schema lets clients leave it out, but the Avro field has no "
        "default and cannot hold null"
    ]
    content_index["default"] = 0
    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=STUDYGUIDE) == []


def test_inside_a_record_a_property_the_record_lacks_would_be_lost_and_is_refused():
    json_schema, avro = folder_pair("org/openstax/ec/accessed_studyguide/v1")
    json_schema["properties"]["source_metadata"]["properties"]["chapter"] = {"type": "string"}

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=STUDYGUIDE) == [
        "source_metadata.chapter: the JSON schema defines it but the Avro record source_metadata has no such "
        "field, so it would be lost"
    ]


def test_inside_a_record_a_field_the_json_schema_does_not_define_needs_a_closed_object():
    json_schema, avro = folder_pair("org/openstax/ec/accessed_studyguide/v1")
    [metadata] = [field for field in avro["fields"] if field["name"] == "source_metadata"]
    metadata["type"][1]["fields"].append(optional("chapter", "string"))

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=STUDYGUIDE) == [
        "source_metadata.chapter: the JSON schema does not define it yet lets clients send it with any value (it "
        "does not say additionalProperties: false), which the Avro field ?string cannot hold"
    ]
    json_schema["properties"]["source_metadata"]["additionalProperties"] = False
    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=STUDYGUIDE) == []


def test_map_values_and_array_items_fit_like_fields_and_say_where():
    properties = {
        "attributes": {"type": "object", "additionalProperties": {"type": "integer"}},
        "tags": {"type": "array", "items": {"type": "integer"}},
    }
    fields = [
        optional("attributes", {"type": "map", "values": "string"}),
        optional("tags", {"type": "array", "items": "int"}),
    ]

    assert nudged_with(properties=properties, fields=fields) == [
        "attributes.*: the JSON schema allows integers but the Avro type is string",
        "tags[]: the JSON schema allows integers beyond int32 but the Avro type is int",
    ]


def test_an_object_with_known_properties_fits_a_map_when_every_value_does():
    closed = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "additionalProperties": False,
    }
    assert (
        nudged_with(properties={"pair": closed}, fields=[optional("pair", {"type": "map", "values": "string"})]) == []
    )


def test_a_value_of_any_json_type_fits_no_avro_type():
    assert nudged_with(properties={"extra": {"description": "anything"}}, fields=[optional("extra", "string")]) == [
        "extra: the JSON schema allows any JSON value here (it gives no type), which no Avro type can hold; "
        "give it a type"
    ]


def test_an_event_type_other_than_xapi_does_not_hold_extension_values_of_any_type_as_text():
    extensions = {"type": "object", "additionalProperties": True}
    assert nudged_with(
        properties={"extensions": extensions}, fields=[optional("extensions", {"type": "map", "values": "string"})]
    ) == [
        "extensions.*: the JSON schema allows any JSON value here (it gives no type), which no Avro type can "
        "hold; give it a type"
    ]


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("anyOf", [{"type": "string"}, {"type": "integer"}]),
        ("oneOf", [{"type": "string"}, {"type": "integer"}]),
        ("not", {"type": "integer"}),
        ("patternProperties", {"^x": {"type": "string"}}),
        ("dependentRequired", {"a": ["b"]}),
        ("unevaluatedProperties", False),
        ("if", {"type": "string"}),
        ("prefixItems", [{"type": "string"}]),
        ("x-custom", 1),
    ],
)
def test_it_refuses_keywords_it_cannot_check_and_says_which_and_where(keyword, value):
    json_schema, avro = folder_pair("org/openstax/ec/accessed_studyguide/v1")
    json_schema["properties"]["source_metadata"]["properties"]["content_version"][keyword] = value

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=STUDYGUIDE) == [
        f"source_metadata.content_version: the JSON schema uses {keyword}, which the registry cannot check "
        "against the Avro record; write it with the keywords docs/registry.md lists"
    ]


def test_keywords_that_only_narrow_values_are_ignored():
    narrowed = {"type": "string", "pattern": "^[a-z]+$", "minLength": 1, "maxLength": 9, "$comment": "ok"}
    assert nudged_with(properties={"app": narrowed}) == []


@pytest.mark.parametrize(
    ("definitions", "reference", "problem"),
    [
        (
            {},
            "https://example.org/app.json",
            "app: the JSON schema's $ref 'https://example.org/app.json' cannot be checked: only references to its "
            "own definitions (#/$defs/Name) can",
        ),
        (
            {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}},
            "#/$defs/A",
            "app: the JSON schema's $ref goes round in a circle: #/$defs/A → #/$defs/B → #/$defs/A",
        ),
        (
            {"A": {"type": "string"}},
            "#/$defs/Missing",
            "app: the JSON schema's $ref '#/$defs/Missing' names none of its $defs",
        ),
    ],
)
def test_it_follows_only_references_to_the_schemas_own_definitions(definitions, reference, problem):
    json_schema, avro = nudged_pair()
    json_schema["$defs"] = definitions
    json_schema["properties"]["app"] = {"$ref": reference}

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == [problem]


def test_it_refuses_a_ref_with_keywords_beside_it_that_could_change_its_values():
    json_schema, avro = nudged_pair()
    json_schema["$defs"] = {"Text": {"type": "string"}}
    json_schema["properties"]["app"] = {"$ref": "#/$defs/Text", "description": "fine", "type": "string"}

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == [
        "app: the JSON schema has type beside $ref, which cannot be checked; move them into the definition it refers to"
    ]


def test_it_refuses_schemas_nested_deeper_than_it_follows():
    items: Any = {"type": "string"}
    avro_items: Any = "string"
    for _ in range(MAX_NESTING + 2):
        items, avro_items = {"type": "array", "items": items}, {"type": "array", "items": avro_items}

    problems = nudged_with(properties={"deep": items}, fields=[optional("deep", avro_items)])

    assert problems == [f"deep{'[]' * MAX_NESTING}: the schemas nest more than {MAX_NESTING} levels deep"]


# --- A choice by objectType ----------------------------------------------------------------------


def choice_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    """nudged_v1 with ``who``: an Agent or a Group (whose members are Agents), by objectType."""
    json_schema, avro = nudged_pair()

    def branch(kind: str) -> dict[str, Any]:
        return {
            "if": {"required": ["objectType"], "properties": {"objectType": {"const": kind}}},
            "then": {"$ref": f"#/$defs/{kind}"},
        }

    json_schema["$defs"] = {
        "Agent": {
            "type": "object",
            "required": ["objectType"],
            "properties": {"objectType": {"const": "Agent"}, "name": {"type": "string"}},
        },
        "Group": {
            "type": "object",
            "required": ["objectType"],
            "properties": {
                "objectType": {"const": "Group"},
                "member": {"type": "array", "items": {"$ref": "#/$defs/Agent"}},
            },
        },
    }
    json_schema["properties"]["who"] = {
        "type": "object",
        "required": ["objectType"],
        "properties": {"objectType": {"enum": ["Agent", "Group"]}},
        "allOf": [branch("Agent"), branch("Group")],
    }
    agent = record(
        "Agent",
        {"name": "objectType", "type": {"type": "enum", "name": "AgentKind", "symbols": ["Agent"]}},
        optional("name", "string"),
    )
    group = record(
        "Group",
        {"name": "objectType", "type": {"type": "enum", "name": "GroupKind", "symbols": ["Group"]}},
        optional("member", {"type": "array", "items": "org.openstax.ec.Agent"}),
    )
    avro["fields"].append({"name": "who", "type": ["null", agent, group], "default": None})
    return json_schema, avro


def who(avro: dict[str, Any]) -> list[Any]:
    [field] = [field for field in avro["fields"] if field["name"] == "who"]
    branches: list[Any] = field["type"]
    return branches


def test_a_choice_by_object_type_fits_a_union_of_a_record_for_each_value():
    json_schema, avro = choice_pair()
    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == []


def test_each_branch_of_a_choice_is_checked_against_its_record_and_named_in_the_path():
    json_schema, avro = choice_pair()
    json_schema["$defs"]["Group"]["properties"]["member"]["items"] = {"type": "string"}

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == [
        "who[Group].member[]: the JSON schema allows strings but the Avro type is Agent"
    ]


def test_a_choice_needs_a_record_for_each_value_and_a_branch_for_each_value_it_allows():
    json_schema, avro = choice_pair()
    who(avro).pop()  # no Group record
    json_schema["properties"]["who"]["properties"]["objectType"]["enum"].append("Team")

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == [
        "who: the JSON schema allows objectType 'Team' but no if/then branch says what such an object holds",
        "who[Group]: no record of the Avro field ?Agent takes objectType 'Group'",
    ]


def test_a_choice_refuses_records_that_take_the_same_value():
    json_schema, avro = choice_pair()
    for branch in who(avro)[1:]:
        branch["fields"][0]["type"] = "string"

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == [
        "who[Agent]: the Avro records Agent and Group both take objectType 'Agent', so which one a value becomes "
        "depends on its other fields; give each record an enum of its own values",
        "who[Group]: the Avro records Agent and Group both take objectType 'Group', so which one a value becomes "
        "depends on its other fields; give each record an enum of its own values",
    ]


def test_all_of_used_otherwise_than_as_a_choice_is_refused():
    json_schema, avro = choice_pair()
    json_schema["properties"]["who"]["allOf"].append({"required": ["name"]})

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=NUDGED) == [
        "who: the JSON schema's allOf cannot be checked: the registry understands allOf only as a choice by one "
        'property\'s value, {"if": {"properties": {"objectType": {"const": "…"}}}, "then": …} for each value'
    ]


# --- xAPI ----------------------------------------------------------------------------------------


def test_xapi_extension_values_of_any_type_fit_only_a_map_of_text():
    json_schema, avro = xapi_pair()
    # A language map written like an extensions object: any value, where the edge writes text only.
    json_schema["$defs"]["Attachment"]["properties"]["display"] = {"$ref": "#/$defs/Extensions"}

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=XAPI_STATEMENT) == [
        "object[SubStatement].attachments[].display.*: the JSON schema allows any JSON value here (it gives no "
        "type), which no Avro type can hold; give it a type"
    ]


def test_an_xapi_record_field_a_statement_can_name_must_hold_what_the_statement_may_send_there():
    json_schema, avro = xapi_pair()
    del json_schema["additionalProperties"]
    avro["fields"].append(optional("note", "string"))

    assert record_fit_problems(json_schema=json_schema, avro_schema=avro, full_name=XAPI_STATEMENT) == [
        "note: the JSON schema does not define it yet lets clients send it with any value (it does not say "
        "additionalProperties: false), which the Avro field ?string cannot hold"
    ]
