"""Avro encoding in Confluent's wire format. Pure functions: no broker, no registry, no Django.

Queued records are JSON-safe (Celery carries JSON only), so UUIDs travel as text. An encoder is
compiled once per schema: it turns the text of every ``fixed(16)`` UUID into its 16 raw bytes
and writes the datum with fastavro behind the 5-byte Confluent header.
"""

from __future__ import annotations

import io
import struct
import uuid
from collections.abc import Callable
from typing import Any

import fastavro
import fastavro.validation

MAGIC_BYTE = 0
Converter = Callable[[Any], Any]


class EncodingError(ValueError):
    """A record does not fit its schema: a permanent failure, retrying cannot help."""


def _identity(value: Any) -> Any:
    return value


def _uuid_bytes(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value).bytes
        except ValueError as exc:
            raise EncodingError(f"{value!r} is not a UUID") from exc
    return value


def _converter(schema: Any, named: dict[str, Any]) -> Converter:
    """A function converting a JSON-safe datum of ``schema`` into what fastavro writes."""
    if isinstance(schema, str):
        return _converter(named[schema], named) if schema in named else _identity
    if isinstance(schema, list):
        branches = [_converter(branch, named) for branch in schema if branch != "null"]
        if all(branch is _identity for branch in branches):
            return _identity
        if len(branches) == 1:
            only = branches[0]
            return lambda value: None if value is None else only(value)
        raise EncodingError("unions of several branches that need conversion are not supported")
    kind = schema["type"]
    if kind == "fixed":
        named[schema["name"]] = schema
        return _uuid_bytes if schema["size"] == 16 else _identity
    if kind == "record":
        named[schema["name"]] = schema
        fields = [(field["name"], _converter(field["type"], named)) for field in schema["fields"]]
        converting = [(name, convert) for name, convert in fields if convert is not _identity]
        if not converting:
            return _identity

        def convert_record(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            converted = dict(value)
            for name, convert in converting:
                if name in converted:
                    converted[name] = convert(converted[name])
            return converted

        return convert_record
    if kind == "array":
        items = _converter(schema["items"], named)
        return _identity if items is _identity else lambda value: [items(item) for item in value]
    if kind == "map":
        values = _converter(schema["values"], named)
        return _identity if values is _identity else lambda value: {k: values(v) for k, v in value.items()}
    if isinstance(kind, (dict, list)):
        return _converter(kind, named)
    return _identity


class Encoder:
    """Encodes records of one schema, registered under ``schema_id``, in Confluent framing."""

    def __init__(self, *, schema: dict[str, Any], schema_id: int) -> None:
        self._header = struct.pack(">bI", MAGIC_BYTE, schema_id)
        self._parsed = fastavro.parse_schema(schema)
        # fastavro's parsed form names every type by its full name, as references use it.
        self._convert = _converter(self._parsed, {})

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        datum = self._convert(record)
        try:
            # fastavro's writer does not range-check ints or reject missing fields by itself.
            fastavro.validation.validate(datum, self._parsed, raise_errors=True)
            fastavro.schemaless_writer(buffer, self._parsed, datum)
        except (
            fastavro.validation.ValidationError,
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            OverflowError,
        ) as exc:
            raise EncodingError(str(exc) or type(exc).__name__) from exc
        return buffer.getvalue()


def confluent_frame_split(value: bytes) -> tuple[int, bytes]:
    """``(schema_id, avro_datum)`` of a Confluent-framed value."""
    if len(value) < 5 or value[0] != MAGIC_BYTE:
        raise EncodingError("not a Confluent-framed value")
    (schema_id,) = struct.unpack(">I", value[1:5])
    return schema_id, value[5:]
