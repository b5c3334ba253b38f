"""Compatibility levels with real schema pairs, checked by the avro package's checker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from registry.compatibility import LEVELS, EarlierSchema, compatibility_problems

BASE_FIELDS: list[dict[str, Any]] = [
    {"name": "count", "type": "int"},
    {"name": "colour", "type": {"type": "enum", "name": "colour", "symbols": ["RED", "GREEN"]}},
    {"name": "note", "type": ["null", "string"], "default": None},
]


def record(fields: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "record", "name": "changed_v1", "namespace": "org.example", "fields": fields})


def replace(name: str, new: dict[str, Any]) -> list[dict[str, Any]]:
    return [new if field["name"] == name else field for field in BASE_FIELDS]


CHANGES = {
    "add an optional field": [*BASE_FIELDS, {"name": "extra", "type": ["null", "string"], "default": None}],
    "add a required field without default": [*BASE_FIELDS, {"name": "extra", "type": "string"}],
    "remove a field without default": [f for f in BASE_FIELDS if f["name"] != "count"],
    "remove an optional field": [f for f in BASE_FIELDS if f["name"] != "note"],
    "change a type": replace("count", {"name": "count", "type": "string"}),
    "widen int to long": replace("count", {"name": "count", "type": "long"}),
    "add an enum symbol": replace(
        "colour", {"name": "colour", "type": {"type": "enum", "name": "colour", "symbols": ["RED", "GREEN", "BLUE"]}}
    ),
    "append a union branch": replace("note", {"name": "note", "type": ["null", "string", "int"], "default": None}),
}

# (backward ok, forward ok) for each change; FULL is both.
EXPECTED = {
    "add an optional field": (True, True),
    "add a required field without default": (False, True),
    "remove a field without default": (True, False),
    "remove an optional field": (True, True),
    "change a type": (False, False),
    "widen int to long": (True, False),
    "add an enum symbol": (True, False),
    "append a union branch": (True, False),
}


def allowed(change: str, level: str) -> bool:
    backward, forward = EXPECTED[change]
    base = level.removesuffix("_TRANSITIVE")
    return {"NONE": True, "BACKWARD": backward, "FORWARD": forward, "FULL": backward and forward}[base]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("change", list(CHANGES))
def test_each_change_is_allowed_exactly_under_the_levels_that_permit_it(change, level):
    problems = compatibility_problems(
        candidate=record(CHANGES[change]), earlier=[EarlierSchema(1, record(BASE_FIELDS))], level=level
    )
    assert (problems == []) is allowed(change, level), [str(p) for p in problems]


def test_a_refusal_names_the_field_and_what_changed():
    (problem,) = compatibility_problems(
        candidate=record(CHANGES["change a type"]), earlier=[EarlierSchema(3, record(BASE_FIELDS))], level="BACKWARD"
    )
    assert str(problem) == (
        "BACKWARD with version 3: 'count': reader type: string not compatible with writer type: int"
    )


def test_a_required_field_added_without_default_is_named_in_the_refusal():
    problems = compatibility_problems(
        candidate=record(CHANGES["add a required field without default"]),
        earlier=[EarlierSchema(1, record(BASE_FIELDS))],
        level="FULL",
    )
    assert [str(p) for p in problems] == [
        "BACKWARD with version 1: 'extra': field 'extra' was added without a default, so earlier data cannot be read"
    ]


def test_a_removed_field_is_named_in_a_forward_refusal():
    problems = compatibility_problems(
        candidate=record(CHANGES["remove a field without default"]),
        earlier=[EarlierSchema(1, record(BASE_FIELDS))],
        level="FORWARD",
    )
    assert [p.fields for p in problems] == [("count",)]
    assert "was removed" in str(problems[0])


def test_nested_fields_are_named_by_their_dotted_path():
    inner = {"type": "record", "name": "meta", "fields": [{"name": "content_id", "type": "string"}]}
    changed = {"type": "record", "name": "meta", "fields": [{"name": "content_id", "type": "int"}]}
    problems = compatibility_problems(
        candidate=record([{"name": "source_metadata", "type": changed}]),
        earlier=[EarlierSchema(1, record([{"name": "source_metadata", "type": inner}]))],
        level="BACKWARD",
    )
    assert [p.fields for p in problems] == [("source_metadata.content_id",)]


def test_transitive_levels_check_every_earlier_version_and_plain_ones_only_the_latest():
    v1 = record([{"name": "count", "type": "int"}])
    v2 = record([])
    v3 = record([{"name": "count", "type": "string", "default": ""}])
    earlier = [EarlierSchema(1, v1), EarlierSchema(2, v2)]
    assert compatibility_problems(candidate=v3, earlier=earlier, level="BACKWARD") == []
    (problem,) = compatibility_problems(candidate=v3, earlier=earlier, level="BACKWARD_TRANSITIVE")
    assert problem.version == 1


def test_the_first_version_and_level_none_accept_anything():
    assert compatibility_problems(candidate=record([]), earlier=[], level="FULL_TRANSITIVE") == []
    anything = record([{"name": "x", "type": "bytes"}])
    assert (
        compatibility_problems(candidate=anything, earlier=[EarlierSchema(1, record(BASE_FIELDS))], level="NONE") == []
    )


def test_an_unknown_level_is_an_error():
    with pytest.raises(ValueError, match="unknown compatibility level"):
        compatibility_problems(candidate=record([]), earlier=[EarlierSchema(1, record([]))], level="SIDEWAYS")
