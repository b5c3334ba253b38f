"""Schema compatibility under Confluent's levels, checked by the ``avro`` package's checker.

Pure functions: no database. ``BACKWARD`` means the new schema can read data written with the
earlier one; ``FORWARD`` means the earlier schema can read data written with the new one; ``FULL``
is both. Plain levels compare with the latest earlier revision, ``_TRANSITIVE`` ones with all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


@dataclass(frozen=True)
class EarlierSchema:
    version: int
    schema: str


@dataclass(frozen=True)
class Incompatibility:
    """What breaks, in one direction against one earlier version."""

    version: int
    direction: str
    kinds: tuple[str, ...]
    fields: tuple[str, ...]
    details: tuple[str, ...]

    def __str__(self) -> str:
        where = ", ".join(repr(field) for field in self.fields if field) or "the record"
        return f"{self.direction} with version {self.version}: {where}: {'; '.join(self.details)}"


def _parse(schema: str) -> avro.schema.Schema:
    return avro.schema.parse(schema)


def _field_path(schema: Any, location: str) -> str:
    """``/fields/1/type/fields/0/type`` in ``schema`` → ``source_metadata.content_id``."""
    names = []
    node = schema
    parts = [part for part in location.split("/") if part]
    index = 0
    while index < len(parts) and node is not None:
        part = parts[index]
        if part == "fields" and index + 1 < len(parts) and isinstance(node, dict) and "fields" in node:
            node = node["fields"][int(parts[index + 1])]
            names.append(node["name"])
            index += 2
            continue
        if isinstance(node, list) and part.isascii() and part.isdigit():
            # A location may point past the reader's list: a union branch only the writer has.
            node = node[int(part)] if int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            node = None
        index += 1
    return ".".join(names)


def _explain(kind: str, message: str, direction: str) -> str:
    if kind == "reader_field_missing_default_value":
        if direction == "BACKWARD":
            return f"field {message!r} was added without a default, so earlier data cannot be read"
        return f"field {message!r} was removed, and the earlier version has no default for it"
    if kind == "missing_enum_symbols":
        return f"enum symbols are missing on the reading side: {message}"
    if kind == "missing_union_branch":
        return f"a union branch is missing on the reading side: {message}"
    return message


def _check(reader: str, writer: str, *, version: int, direction: str, reader_dict: Any) -> list[Incompatibility]:
    result = ReaderWriterCompatibilityChecker().get_compatibility(  # type: ignore[no-untyped-call]
        _parse(reader), _parse(writer)
    )
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = tuple(sorted({kind.value for kind in result.incompatibilities})) or ("incompatible",)
    # The checker merges its findings into sets, so a message can only be told apart by kind when
    # there is one kind; a missing-default message is the field's name itself.
    only_kind = kinds[0] if len(kinds) == 1 else ""
    details = tuple(_explain(only_kind, str(message), direction) for message in sorted(result.messages))
    fields = {_field_path(reader_dict, location) for location in result.locations}
    if only_kind == "reader_field_missing_default_value":
        fields = {str(message) for message in result.messages}
    return [
        Incompatibility(
            version=version,
            direction=direction,
            kinds=kinds,
            fields=tuple(sorted(field for field in fields if field)),
            details=details or kinds,
        )
    ]


def compatibility_problems(*, candidate: str, earlier: Sequence[EarlierSchema], level: str) -> list[Incompatibility]:
    """Every way ``candidate`` breaks ``level`` against the ``earlier`` schemas (oldest first)."""
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}")
    if level == "NONE" or not earlier:
        return []
    against = earlier if level.endswith("_TRANSITIVE") else earlier[-1:]
    base = level.removesuffix("_TRANSITIVE")
    candidate_dict = json.loads(candidate)
    problems: list[Incompatibility] = []
    for previous in against:
        if base in ("BACKWARD", "FULL"):
            problems += _check(
                candidate, previous.schema, version=previous.version, direction="BACKWARD", reader_dict=candidate_dict
            )
        if base in ("FORWARD", "FULL"):
            problems += _check(
                previous.schema,
                candidate,
                version=previous.version,
                direction="FORWARD",
                reader_dict=json.loads(previous.schema),
            )
    return problems


def schema_parses(schema: str) -> str | None:
    """None when ``schema`` is a valid Avro schema, else the parser's reason."""
    try:
        _parse(schema)
    except (avro.errors.AvroException, ValueError, TypeError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    return None
