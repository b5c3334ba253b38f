"""Conforming records to their Avro schema at the edge (registry/conform.py): pure, no services."""

from __future__ import annotations

from typing import Any

import fastavro
import pytest

from registry.conform import Outcome, Problem, conformer


def _compiled(fields: list[dict[str, Any]], **extra: Any) -> Any:
    schema = {"type": "record", "name": "r", "namespace": "t", "fields": fields, **extra}
    return conformer(fastavro.parse_schema(schema))


def _conformed(conform: Any, record: dict[str, Any]) -> tuple[dict[str, Any], Outcome]:
    outcome = Outcome()
    conform(record, outcome)
    return record, outcome


def test_an_integral_float_in_an_int_or_long_field_becomes_an_integer():
    conform = _compiled([{"name": "a", "type": "int"}, {"name": "b", "type": "long"}])
    record, outcome = _conformed(conform, {"a": 1.0, "b": -3e3})
    assert record == {"a": 1, "b": -3000}
    assert type(record["a"]) is int
    assert type(record["b"]) is int
    assert outcome == Outcome()


def test_a_fraction_or_another_type_in_an_integer_field_is_a_problem():
    conform = _compiled([{"name": "a", "type": "int"}, {"name": "b", "type": "long"}])
    _, outcome = _conformed(conform, {"a": 1.5, "b": True})
    assert outcome.problems == [
        Problem("a", "invalid_type", "a: 1.5 is not an integer"),
        Problem("b", "invalid_type", "b: True is not an integer"),
    ]


@pytest.mark.parametrize(
    ("kind", "value", "fits"),
    [
        ("int", 2**31 - 1, True),
        ("int", 2**31, False),
        ("int", -(2**31), True),
        ("int", -(2**31) - 1, False),
        ("int", 2147483648.0, False),
        ("long", 2**63 - 1, True),
        ("long", 2**63, False),
        ("long", -(2**63), True),
        ("long", -(2**63) - 1, False),
        ("long", 1e19, False),
        ("long", 2.0**53, True),
        ("long", 2.0**53 + 2, False),
        ("long", -9.223372036854776e18, False),
        ("long", 10**400, False),
    ],
)
def test_integers_are_held_to_the_range_of_their_avro_type(kind, value, fits):
    conform = _compiled([{"name": "n", "type": kind}])
    _, outcome = _conformed(conform, {"n": value})
    if fits:
        assert outcome.problems == []
    else:
        [problem] = outcome.problems
        assert (problem.path, problem.code) == ("n", "invalid_value")
        assert f"Avro {kind}" in problem.message


def test_an_integer_in_a_double_field_becomes_the_float_the_reader_returns():
    conform = _compiled([{"name": "x", "type": "double"}])
    record, outcome = _conformed(conform, {"x": 2**53 + 1})
    assert record["x"] == float(2**53 + 1)
    assert type(record["x"]) is float
    assert outcome.problems == []


def test_numbers_no_double_or_float_holds_are_problems():
    conform = _compiled([{"name": "x", "type": "double"}, {"name": "f", "type": "float"}])
    _, outcome = _conformed(conform, {"x": 10**400, "f": 1e39})
    assert [(problem.path, problem.code) for problem in outcome.problems] == [
        ("x", "invalid_value"),
        ("f", "invalid_value"),
    ]


def test_a_timestamp_is_held_to_the_years_every_reader_decodes():
    conform = _compiled([{"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}])
    for millis in (-62_135_596_800_000, 253_402_300_799_999):
        assert _conformed(conform, {"t": millis})[1].problems == []
    for millis in (-62_135_596_800_001, 253_402_300_800_000):
        [problem] = _conformed(conform, {"t": millis})[1].problems
        assert "between 0001-01-01 and 9999-12-31" in problem.message


def test_nested_records_maps_arrays_and_unions_are_conformed_with_their_paths():
    inner = {"type": "record", "name": "inner", "fields": [{"name": "n", "type": ["null", "int"], "default": None}]}
    conform = _compiled(
        [
            {"name": "one", "type": ["null", inner], "default": None},
            {"name": "many", "type": {"type": "array", "items": "t.inner"}},
            {"name": "by_key", "type": {"type": "map", "values": "long"}},
        ]
    )
    record, outcome = _conformed(
        conform,
        {"one": {"n": 2.0, "extra": "x"}, "many": [{"n": 3.0}, {"n": 0.5}], "by_key": {"a": 4.0, "b": 2**64}},
    )
    assert record == {"one": {"n": 2}, "many": [{"n": 3}, {"n": 0.5}], "by_key": {"a": 4, "b": 2**64}}
    assert outcome.dropped == ["one.extra"]
    assert [(problem.path, problem.code) for problem in outcome.problems] == [
        ("many.1.n", "invalid_type"),
        ("by_key.b", "invalid_value"),
    ]


def test_a_union_of_records_conforms_the_record_the_writer_would_choose():
    scored = {
        "type": "record",
        "name": "Scored",
        "fields": [
            {"name": "kind", "type": {"type": "enum", "name": "ScoredKind", "symbols": ["Scored"]}},
            {"name": "score", "type": "double"},
        ],
    }
    counted = {
        "type": "record",
        "name": "Counted",
        "fields": [
            {"name": "kind", "type": {"type": "enum", "name": "CountedKind", "symbols": ["Counted"]}},
            {"name": "score", "type": "int"},
        ],
    }
    conform = _compiled([{"name": "what", "type": [scored, counted]}])
    record, _ = _conformed(conform, {"what": {"kind": "Counted", "score": 7.0}})
    assert record["what"]["score"] == 7
    assert type(record["what"]["score"]) is int
    record, _ = _conformed(conform, {"what": {"kind": "Scored", "score": 7}})
    assert type(record["what"]["score"]) is float


def test_a_recursive_schema_compiles_and_conforms_each_level():
    conform = _compiled(
        [{"name": "n", "type": "int"}, {"name": "next", "type": ["null", "t.node"], "default": None}],
        name="node",
    )
    record, outcome = _conformed(conform, {"n": 1.0, "next": {"n": 2.0, "next": {"n": 3.5, "next": None}}})
    assert record["next"]["n"] == 2
    assert type(record["next"]["n"]) is int
    assert [problem.path for problem in outcome.problems] == ["next.next.n"]


def test_a_schema_without_numbers_or_nested_records_needs_no_conformer():
    assert (
        _compiled([{"name": "s", "type": "string"}, {"name": "m", "type": {"type": "map", "values": "string"}}]) is None
    )
