"""What the edge does to a record before it is queued, so that the worker can encode it and every
consumer's reader can decode it back to the same values. Pure functions over an Avro schema: no
Django, no I/O.

JSON Schema and Avro disagree on numbers. JSON Schema's ``integer`` takes ``1.0`` (a number without
a fraction), which the Avro writer refuses for an ``int``; it has no bounds of its own, while Avro's
``int`` and ``long`` stop at 32 and 64 bits; and a JSON integer in a ``double`` field is rounded by
the writer (2^53 + 1 comes back as 2^53). A record is therefore conformed to its Avro schema at the
edge, where a client can still be told:

* an integral float in an ``int`` or ``long`` field becomes an integer (``1.0`` → ``1``), up to
  2^53, past which a float is no longer exactly the integer that was sent;
* an integer outside the field's range, a number that is not an integer there, a number no
  ``float``/``double`` can hold, and a timestamp outside years 1-9999 (what Python's and so
  fastavro's reader can turn into a date) are problems: the event is refused with 422;
* an integer in a ``float`` or ``double`` field becomes the float the reader will return;
* a key a nested record does not define is dropped (the writer would drop it silently), and named
  so the answer can warn about it.

``conformer(schema)`` compiles this once per schema into a function that visits only the parts of
a record where something can happen: for most events, one or two fields.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INT_RANGE = (-(2**31), 2**31 - 1)
# The integers a float holds exactly.
_EXACT = 2**53
LONG_RANGE = (-(2**63), 2**63 - 1)
# The largest finite 32-bit float: beyond it the writer cannot pack the value.
FLOAT_MAX = 3.4028234663852886e38
# Milliseconds since the epoch of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59.999Z: the dates a
# datetime holds, and so what fastavro's reader (confluent-kafka's AvroDeserializer) can return.
TIMESTAMP_MILLIS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)
_LOGICAL_RANGES = {
    "timestamp-millis": TIMESTAMP_MILLIS_RANGE,
    "timestamp-micros": (TIMESTAMP_MILLIS_RANGE[0] * 1000, TIMESTAMP_MILLIS_RANGE[1] * 1000 + 999),
    "local-timestamp-millis": TIMESTAMP_MILLIS_RANGE,
    "local-timestamp-micros": (TIMESTAMP_MILLIS_RANGE[0] * 1000, TIMESTAMP_MILLIS_RANGE[1] * 1000 + 999),
    # Days since the epoch of 0001-01-01 and 9999-12-31.
    "date": (-719_162, 2_932_896),
}
_READABLE = {
    "timestamp-millis": "a time between 0001-01-01 and 9999-12-31 (in milliseconds since 1970)",
    "timestamp-micros": "a time between 0001-01-01 and 9999-12-31 (in microseconds since 1970)",
    "local-timestamp-millis": "a time between 0001-01-01 and 9999-12-31 (in milliseconds since 1970)",
    "local-timestamp-micros": "a time between 0001-01-01 and 9999-12-31 (in microseconds since 1970)",
    "date": "a date between 0001-01-01 and 9999-12-31 (in days since 1970)",
}


@dataclass(frozen=True)
class Problem:
    """Why a value cannot go to Kafka: where (``source_metadata.content_index``, ``attachments.0.length``),
    a stable code (``invalid_value``, ``invalid_type``) and what is wrong."""

    path: str
    code: str
    message: str


@dataclass
class Outcome:
    """What conforming one record found: problems (refuse the event) and the nested keys dropped."""

    problems: list[Problem] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


# Conforms one value: returns it (or what replaces it), noting problems and drops under ``path``.
Step = Callable[[Any, str, Outcome], Any]
# Conforms a record in place.
Conformer = Callable[[dict[str, Any], Outcome], None]


def _joined(path: str, step: str) -> str:
    return f"{path}.{step}" if path else step


def _integer(kind: str, low: int, high: int, readable: str | None) -> Step:
    expected = readable or f"an integer from {low} to {high} (Avro {kind})"

    def conform(value: Any, path: str, outcome: Outcome) -> Any:
        kind_of = type(value)
        if kind_of is float:
            if not value.is_integer():
                outcome.problems.append(Problem(path, "invalid_type", f"{path}: {value!r} is not an integer"))
                return value
            if not -_EXACT <= value <= _EXACT:
                # Past 2^53 a float is no longer the integer the client wrote (the JSON parser reads
                # integers past 64 bits as floats: -9223372036854775809 would become -2^63).
                message = (
                    f"{path}: {value!r} is too large to be an exact integer: expected {expected}, sent as an integer"
                )
                outcome.problems.append(Problem(path, "invalid_value", message))
                return value
            value = int(value)
        elif kind_of is not int:
            outcome.problems.append(Problem(path, "invalid_type", f"{path}: {value!r} is not an integer"))
            return value
        if not low <= value <= high:
            message = f"{path}: {value} is out of range: expected {expected}"
            outcome.problems.append(Problem(path, "invalid_value", message))
        return value

    return conform


def _floating(kind: str, limit: float) -> Step:
    def conform(value: Any, path: str, outcome: Outcome) -> Any:
        kind_of = type(value)
        if kind_of is int:
            try:
                value = float(value)
            except OverflowError:
                value = math.inf
        elif kind_of is not float:
            outcome.problems.append(Problem(path, "invalid_type", f"{path}: {value!r} is not a number"))
            return value
        if not -limit <= value <= limit:
            outcome.problems.append(
                Problem(path, "invalid_value", f"{path}: the number is out of range for an Avro {kind}")
            )
        return value

    return conform


def _primitive(kind: str, logical: str | None) -> Step | None:
    if kind in ("int", "long"):
        low, high = INT_RANGE if kind == "int" else LONG_RANGE
        if logical in _LOGICAL_RANGES:
            low, high = max(low, _LOGICAL_RANGES[logical][0]), min(high, _LOGICAL_RANGES[logical][1])
        return _integer(kind, low, high, _READABLE.get(logical or ""))
    if kind == "float":
        return _floating(kind, FLOAT_MAX)
    if kind == "double":
        return _floating(kind, sys.float_info.max)
    return None


@dataclass
class _Record:
    """A compiled record type: its fields' steps (filled in after the record is named, so a
    reference to it from inside compiles), its field names, and what tells its values apart in a
    union."""

    name: str
    fields: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    # Field name → the symbols an enum field may hold (xAPI's ``objectType`` tells its records apart).
    symbols: dict[str, frozenset[str]] = field(default_factory=dict)
    steps: tuple[tuple[str, Step], ...] = ()

    def conform_nested(self, value: Any, path: str, outcome: Outcome) -> Any:
        if not isinstance(value, dict):
            return value  # not a record: the writer refuses it, JSON Schema already did
        unknown = [key for key in value if key not in self.fields]
        for key in unknown:
            del value[key]
            outcome.dropped.append(_joined(path, str(key)))
        self.conform_fields(value, path, outcome)
        return value

    def conform_fields(self, value: dict[str, Any], path: str, outcome: Outcome) -> None:
        for name, step in self.steps:
            if name in value and value[name] is not None:
                value[name] = step(value[name], _joined(path, name), outcome)

    def fits(self, value: dict[str, Any]) -> bool:
        """Whether ``value`` could be this record: its required fields present, its enum fields
        holding one of their symbols."""
        if not self.required.issubset(value):
            return False
        return all(value.get(name) in allowed for name, allowed in self.symbols.items() if name in value)


class _Compiler:
    """Compiles each named type once, so a schema compiles in time linear in its size whatever its
    references (and a reference to a record from within it does not recurse)."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {}
        self.records: dict[str, _Record] = {}
        self.steps: dict[str, Step | None] = {}

    def step(self, schema: Any) -> Step | None:
        if isinstance(schema, str):
            if schema in self.steps:
                return self.steps[schema]
            if schema in self.records:
                return self.records[schema].conform_nested
            return _primitive(schema, None)
        if isinstance(schema, list):
            return self._union(schema)
        kind = schema.get("type")
        if isinstance(kind, (dict, list)):
            return self.step(kind)
        name = schema.get("name")
        if kind == "record":
            return self._record(schema).conform_nested
        if kind in ("enum", "fixed"):
            self.named[str(name)] = schema
            self.steps[str(name)] = None
            return None
        if kind == "array":
            return _array(self.step(schema["items"]))
        if kind == "map":
            return _map(self.step(schema["values"]))
        logical = schema.get("logicalType")
        return _primitive(kind, logical if isinstance(logical, str) else None)

    def record(self, schema: dict[str, Any]) -> _Record:
        return self._record(schema)

    def _record(self, schema: dict[str, Any]) -> _Record:
        name = str(schema["name"])
        if name in self.records:
            return self.records[name]
        compiled = self.records[name] = _Record(name=name)
        fields = schema["fields"]
        compiled.fields = frozenset(str(item["name"]) for item in fields)
        compiled.required = frozenset(str(item["name"]) for item in fields if "default" not in item)
        steps = []
        for item in fields:
            step = self.step(item["type"])
            if step is not None:
                steps.append((str(item["name"]), step))
        compiled.steps = tuple(steps)
        # After the fields compiled: an enum a field names is defined by then.
        for item in fields:
            symbols = _enum_symbols(item["type"], self.named)
            if symbols is not None:
                compiled.symbols[str(item["name"])] = symbols
        return compiled

    def _union(self, branches: list[Any]) -> Step | None:
        others = [branch for branch in branches if branch != "null"]
        if len(others) == 1:
            return self.step(others[0])
        records = [self._union_record(branch) for branch in others]
        candidates = [record for record in records if record is not None]
        numeric = [_kind(branch, self.named) for branch in others]
        integer_step = next(
            (self.step(branch) for branch, kind in zip(others, numeric, strict=True) if kind in ("int", "long")),
            None,
        )
        float_step = next(
            (self.step(branch) for branch, kind in zip(others, numeric, strict=True) if kind in ("float", "double")),
            None,
        )
        if not candidates and integer_step is None and float_step is None:
            return None

        def conform(value: Any, path: str, outcome: Outcome) -> Any:
            if isinstance(value, dict):
                record = _chosen(candidates, value)
                return value if record is None else record.conform_nested(value, path, outcome)
            kind_of = type(value)
            if kind_of is int:
                step = integer_step or float_step
            elif kind_of is float:
                step = float_step or integer_step
            else:
                return value
            return value if step is None else step(value, path, outcome)

        return conform

    def _union_record(self, branch: Any) -> _Record | None:
        if isinstance(branch, str):
            return self.records.get(branch)
        if isinstance(branch, dict) and branch.get("type") == "record":
            return self._record(branch)
        return None


def _kind(schema: Any, named: dict[str, Any]) -> str:
    if isinstance(schema, str):
        return _kind(named[schema], named) if isinstance(named.get(schema), dict) else schema
    if isinstance(schema, dict):
        kind = schema.get("type")
        return kind if isinstance(kind, str) else ""
    return ""


def _enum_symbols(schema: Any, named: dict[str, Any]) -> frozenset[str] | None:
    if isinstance(schema, dict) and schema.get("type") == "enum":
        return frozenset(str(symbol) for symbol in schema["symbols"])
    if isinstance(schema, str) and isinstance(named.get(schema), dict):
        return _enum_symbols(named[schema], named)
    return None


def _chosen(candidates: list[_Record], value: dict[str, Any]) -> _Record | None:
    """The record of a union a dict is written as: as the writer chooses, among those it could be,
    the one sharing the most field names with it."""
    best, most = None, -1
    for record in candidates:
        if record.fits(value):
            shared = len(record.fields.intersection(value))
            if shared > most:
                best, most = record, shared
    return best


def _array(items: Step | None) -> Step | None:
    if items is None:
        return None

    def conform(value: Any, path: str, outcome: Outcome) -> Any:
        if type(value) is not list:
            return value
        for index, item in enumerate(value):
            if item is not None:
                value[index] = items(item, _joined(path, str(index)), outcome)
        return value

    return conform


def _map(values: Step | None) -> Step | None:
    if values is None:
        return None

    def conform(value: Any, path: str, outcome: Outcome) -> Any:
        if not isinstance(value, dict):
            return value
        for key, item in value.items():
            if item is not None:
                value[key] = values(item, _joined(path, str(key)), outcome)
        return value

    return conform


def conformer(schema: Any) -> Conformer | None:
    """The function that conforms records of the record ``schema`` (parsed by fastavro, so every
    name is a full name) in place; None when no record of it ever needs it. The record's own keys are
    its fields (the edge builds it so): only nested records drop keys."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValueError("a record schema is needed")
    record = _Compiler().record(schema)
    if not record.steps:
        return None
    steps = record.steps

    def conform(value: dict[str, Any], outcome: Outcome) -> None:
        for name, step in steps:
            item = value.get(name)
            if item is not None:
                value[name] = step(item, name, outcome)

    return conform
