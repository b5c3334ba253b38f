"""Avro encoding in Confluent's wire format. Pure functions: no broker, no registry, no Django.

Queued records are JSON-safe (Celery carries JSON only), so UUIDs travel as text. An encoder is
compiled once per schema into a function that walks a record as the schema says: it turns the
text of every ``fixed(16)`` UUID into its 16 raw bytes, and refuses the values fastavro's writer
would write without complaint but wrongly (an ``int`` past 32 bits, a float for a ``long``, a
number for a ``boolean``, text for an ``array``). Everything else the writer checks itself, so no
separate validation pass is needed: the record is written by fastavro behind the 5-byte header.

Compiling takes time linear in the schema's size: each named type is compiled once, however often
it is referred to, and a recursive type (a record that holds itself, as fastavro allows) refers
to its own step.
"""

from __future__ import annotations

import io
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro

MAGIC_BYTE = 0
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)

# Turns a JSON-safe datum of one schema into what fastavro writes, or raises EncodingError.
Prepare = Callable[[Any], Any]


class EncodingError(ValueError):
    """A record does not fit its schema: a permanent failure, retrying cannot help. Its message
    says where, for the dead letter's reason: ``inner.items[2].n: 2147483648 is not an Avro int``."""

    def __init__(self, message: str, *, path: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason or message

    def within(self, step: str) -> EncodingError:
        """This error, one step further from the record's top (a field name, or ``[index]``)."""
        path = f"{step}{'' if not self.path or self.path.startswith('[') else '.'}{self.path}"
        return EncodingError(f"{path}: {self.reason}", path=path, reason=self.reason)


def _uuid_bytes(value: Any) -> Any:
    if isinstance(value, str):
        # The canonical text, as the edge sends it, read directly (four times as fast as uuid.UUID).
        if len(value) == 36 and value[8] == value[13] == value[18] == value[23] == "-":
            try:
                raw = bytes.fromhex(value[:8] + value[9:13] + value[14:18] + value[19:23] + value[24:])
            except ValueError:
                raw = b""
            if len(raw) == 16:
                return raw
        try:
            return uuid.UUID(value).bytes
        except ValueError as exc:
            raise EncodingError(f"{value!r} is not a UUID") from exc
    return value


def _integer(kind: str, low: int, high: int) -> Prepare:
    def check(value: Any) -> Any:
        # `type() is int`: True is an int to Python, never to Avro; 1.0 would be written truncated.
        if type(value) is not int or not low <= value <= high:
            raise EncodingError(f"{value!r} is not an Avro {kind}")
        return value

    return check


def _number(value: Any) -> Any:
    if type(value) not in (int, float):
        raise EncodingError(f"{value!r} is not a number")
    return value


def _boolean(value: Any) -> Any:
    if type(value) is not bool:
        raise EncodingError(f"{value!r} is not a boolean")
    return value


def _null(value: Any) -> Any:
    if value is not None:
        raise EncodingError(f"{value!r} is not null")
    return value


@dataclass(frozen=True)
class _Step:
    """What to do to a datum of one schema before the writer has it."""

    apply: Prepare
    converts: bool  # makes a new value (UUID text into bytes), rather than only checking it


def _check(prepare: Prepare) -> _Step:
    return _Step(prepare, converts=False)


# Types whose wrong values the writer refuses by itself (string, bytes, enum, fixed of another
# size) need no step.
_CHECKS: dict[str, _Step] = {
    "int": _check(_integer("int", *INT_RANGE)),
    "long": _check(_integer("long", *LONG_RANGE)),
    "float": _check(_number),
    "double": _check(_number),
    "boolean": _check(_boolean),
    "null": _check(_null),
}


# How a part of a schema is reached from the nearest named type around it, for the summary of
# _Compiler: a field's own value (its step is part of the type's), inside an array (the array's
# step exists anyway), or inside a union (whose step exists only when a branch converts).
_FIELD, _IN_ARRAY, _IN_UNION = "field", "array", "union"


class _Forward:
    """A named type's step, called from inside that type (a recursive schema) before it is built;
    filled once it is. Only recursive references go through it: the others get the step itself."""

    __slots__ = ("apply",)

    def __init__(self) -> None:
        self.apply: Prepare = _unfilled

    def __call__(self, value: Any) -> Any:
        return self.apply(value)


def _unfilled(value: Any) -> Any:
    raise AssertionError("a forward reference called before its type was compiled")


def _reached(seeds: set[str], referrers: dict[str, set[str]]) -> set[str]:
    """``seeds`` and every name that reaches one of them through ``referrers`` (name -> the names
    that refer to it)."""
    reached = set(seeds)
    pending = list(seeds)
    while pending:
        for referrer in referrers.get(pending.pop(), ()):
            if referrer not in reached:
                reached.add(referrer)
                pending.append(referrer)
    return reached


class _Compiler:
    """The step of a parsed schema, compiled in time linear in its size: each named type once,
    however often it is referred to, and a recursive type through a forward reference to itself.

    Whether a named type's step converts (holds a UUID somewhere) or exists at all (checks or
    converts something) must be known where the type refers to itself, before its step is built:
    both are worked out first, over the graph of named types, as what reaches a UUID or a check.
    """

    def __init__(self, schema: Any) -> None:
        self._definitions: dict[str, dict[str, Any]] = {}
        self._uuids: set[str] = set()  # fixed(16) types
        self._checking: set[str] = set()  # records with a step of their own making (not by reference)
        self._referrers: dict[str, set[str]] = {}  # every reference: who holds a name, however deep
        self._field_referrers: dict[str, set[str]] = {}  # references as a field's own value (or a map's)
        self._union_referrers: dict[str, set[str]] = {}  # references in a union that is a field's value
        self._scan(schema, owner=None, place=_FIELD)
        self._converting = _reached(self._uuids, self._referrers)
        by_union = {owner for name in self._converting for owner in self._union_referrers.get(name, ())}
        self._stepping = _reached(self._uuids | self._checking | by_union, self._field_referrers)
        self._steps: dict[str, _Step | None] = {}

    def _scan(self, schema: Any, *, owner: str | None, place: str) -> None:
        if isinstance(schema, str):
            if schema in self._definitions:
                self._refer(owner, schema, place)
            elif place == _FIELD and schema in _CHECKS and owner is not None:
                self._checking.add(owner)
            return
        if isinstance(schema, list):
            for branch in schema:
                if branch != "null":
                    self._scan(branch, owner=owner, place=_IN_ARRAY if place == _IN_ARRAY else _IN_UNION)
            return
        kind = schema["type"]
        if isinstance(kind, (dict, list)):
            self._scan(kind, owner=owner, place=place)
        elif kind in ("record", "fixed", "enum"):
            name = schema["name"]
            # Known before its fields are read: a field may refer to the record itself.
            self._definitions[name] = schema
            self._refer(owner, name, place)
            if kind == "record":
                for field in schema["fields"]:
                    self._scan(field["type"], owner=name, place=_FIELD)
            elif kind == "fixed" and schema["size"] == 16:
                self._uuids.add(name)
        elif kind == "array":
            if place == _FIELD and owner is not None:
                self._checking.add(owner)
            self._scan(schema["items"], owner=owner, place=_IN_ARRAY if place == _FIELD else place)
        elif kind == "map":
            self._scan(schema["values"], owner=owner, place=place)
        elif place == _FIELD and kind in _CHECKS and owner is not None:
            self._checking.add(owner)

    def _refer(self, owner: str | None, name: str, place: str) -> None:
        if owner is None:
            return
        self._referrers.setdefault(name, set()).add(owner)
        if place == _FIELD:
            self._field_referrers.setdefault(name, set()).add(owner)
        elif place == _IN_UNION:
            self._union_referrers.setdefault(name, set()).add(owner)

    def step(self, schema: Any) -> _Step | None:
        """What to do to a JSON-safe datum of ``schema`` before fastavro writes it; None: nothing."""
        if isinstance(schema, str):
            return self._named(schema) if schema in self._definitions else _CHECKS.get(schema)
        if isinstance(schema, list):
            return _union([self.step(branch) for branch in schema if branch != "null"])
        kind = schema["type"]
        if isinstance(kind, (dict, list)):
            return self.step(kind)
        if kind in ("record", "fixed", "enum"):
            return self._named(schema["name"])
        if kind == "array":
            return _array(self.step(schema["items"]))
        if kind == "map":
            return _map(self.step(schema["values"]))
        return _CHECKS.get(kind)

    def _named(self, name: str) -> _Step | None:
        if name in self._steps:
            return self._steps[name]
        definition = self._definitions[name]
        step: _Step | None = None
        if name in self._uuids:
            step = _UUID
        elif definition["type"] == "record" and name in self._stepping:
            forward = _Forward()
            self._steps[name] = _Step(forward, converts=name in self._converting)
            step = _record([(field["name"], self.step(field["type"])) for field in definition["fields"]])
            if step is None:
                raise AssertionError(f"{name}: compiled without the step its summary said it has")
            forward.apply = step.apply
        self._steps[name] = step
        return step


_UUID = _Step(_uuid_bytes, converts=True)


def _union(branches: list[_Step | None]) -> _Step | None:
    # The writer checks a union's datum against its branches to choose one; only a UUID in the
    # datum needs converting first, which is done when one branch besides null could hold it.
    converting = [branch for branch in branches if branch is not None and branch.converts]
    if not converting:
        return None
    if len(branches) > 1:
        raise EncodingError("unions of several branches that need conversion are not supported")
    only = converting[0].apply
    return _Step(lambda value: None if value is None else only(value), converts=True)


def _record(fields: list[tuple[str, _Step | None]]) -> _Step | None:
    steps = [(name, step.apply) for name, step in fields if step is not None]
    if not steps:
        return None

    def prepare_record(value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # the writer refuses it
        prepared = dict(value)
        for name, prepare in steps:
            # A missing field is the writer's to judge: null when it may be, refused otherwise.
            if name in prepared:
                try:
                    prepared[name] = prepare(prepared[name])
                except EncodingError as exc:
                    raise exc.within(name) from None
        return prepared

    return _Step(prepare_record, converts=any(step.converts for _, step in fields if step is not None))


def _array(items: _Step | None) -> _Step:
    prepare_item = None if items is None else items.apply

    def prepare_array(value: Any) -> Any:
        # The writer would take a string or a mapping for a list of their characters or keys.
        if type(value) not in (list, tuple):
            raise EncodingError(f"{type(value).__name__} is not an array")
        if prepare_item is None:
            return value
        prepared = []
        for index, item in enumerate(value):
            try:
                prepared.append(prepare_item(item))
            except EncodingError as exc:
                raise exc.within(f"[{index}]") from None
        return prepared

    return _Step(prepare_array, converts=items is not None and items.converts)


def _map(values: _Step | None) -> _Step | None:
    if values is None:
        return None
    prepare_value = values.apply

    def prepare_map(value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # the writer refuses it
        prepared = {}
        for key, item in value.items():
            try:
                prepared[key] = prepare_value(item)
            except EncodingError as exc:
                raise exc.within(str(key)) from None
        return prepared

    return _Step(prepare_map, converts=values.converts)


class Encoder:
    """Encodes records of one schema, registered under ``schema_id``, in Confluent framing."""

    def __init__(self, *, schema: dict[str, Any], schema_id: int) -> None:
        self._header = struct.pack(">bI", MAGIC_BYTE, schema_id)
        self._parsed = fastavro.parse_schema(schema)
        # fastavro's parsed form names every type by its full name, as references use it.
        step = _Compiler(self._parsed).step(self._parsed)
        self._prepare = None if step is None else step.apply

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            datum = record if self._prepare is None else self._prepare(record)
            fastavro.schemaless_writer(buffer, self._parsed, datum)
        except EncodingError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise EncodingError(str(exc) or type(exc).__name__) from exc
        return buffer.getvalue()


def confluent_frame_split(value: bytes) -> tuple[int, bytes]:
    """``(schema_id, avro_datum)`` of a Confluent-framed value."""
    if len(value) < 5 or value[0] != MAGIC_BYTE:
        raise EncodingError("not a Confluent-framed value")
    (schema_id,) = struct.unpack(">I", value[1:5])
    return schema_id, value[5:]
