"""JSON Schema → Avro: one definition, two schemas. Pure functions: no Django models, no I/O.

A catalogue folder defines an event's payload once, as the JSON schema clients are validated
against, plus the ``avro`` section of its ``event.json``, which lists the Kafka record's fields in
order: payload properties, fields the server adds (EVENTS.md), and fields that exist only in Avro
and are always null. ``avro_schema_generate`` turns the two into the record's Avro schema.

The ``avro`` section::

    {"fields": ["device_uuid", "user_uuid", "session_uuid", ..., "occurred_at"],
     "nullable": ["source_metadata"],              # optional: JSON-required, yet ?T in Avro
     "always_null": {"context_state_change": "string"}}   # optional: Avro-only, always null

or ``{"handwritten": true}`` for a folder whose ``avro.avsc`` is written by hand (xAPI).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registry.avro import InvalidAvroSchema, avro_schema_parse

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# Envelope fields the server consumes (they select the schema or derive server fields); their
# data reaches Kafka only through the server fields, so they are never Avro fields themselves.
CONSUMED_FIELDS = frozenset({"type", "client_clock_occurred_at", "client_clock_sent_at", "source_uri"})

UUID_TYPE_NAME = "uuid"

_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECTION_KEYS = frozenset({"fields", "nullable", "always_null", "handwritten"})
# JSON Schema keywords whose meaning has no Avro counterpart this generator could choose for you.
_UNMAPPABLE_KEYWORDS = ("$ref", "oneOf", "anyOf", "allOf", "not", "if", "patternProperties")
_DOC_KEYWORDS = frozenset({"description", "examples", "$comment"})


class GeneratorError(ValueError):
    """The JSON schema and the ``avro`` section do not give an Avro schema without losing data."""


@dataclass(frozen=True)
class AvroSection:
    """The ``avro`` section of a folder's ``event.json``."""

    fields: tuple[str, ...] = ()
    nullable: frozenset[str] = frozenset()
    always_null: Mapping[str, Any] = field(default_factory=dict)
    handwritten: bool = False


def _string_list(value: Any, *, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise GeneratorError(f"avro.{key} must be a list of field names")
    duplicates = sorted({item for item in value if value.count(item) > 1})
    if duplicates:
        raise GeneratorError(f"avro.{key} names {', '.join(duplicates)} more than once")
    return value


def avro_section_parse(raw: Any) -> AvroSection:
    """Check and read the ``avro`` section of an ``event.json``."""
    if not isinstance(raw, dict):
        raise GeneratorError("event.json needs an `avro` object")
    unknown = sorted(set(raw) - _SECTION_KEYS)
    if unknown:
        raise GeneratorError(f"avro has unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(_SECTION_KEYS))})")
    handwritten = raw.get("handwritten", False)
    if not isinstance(handwritten, bool):
        raise GeneratorError("avro.handwritten must be true or false")
    if handwritten:
        if set(raw) != {"handwritten"}:
            raise GeneratorError("a handwritten avro section has no fields, nullable or always_null")
        return AvroSection(handwritten=True)
    fields = _string_list(raw.get("fields"), key="fields")
    if not fields:
        raise GeneratorError("avro.fields must list the record's fields")
    always_null = raw.get("always_null", {})
    if not isinstance(always_null, dict):
        raise GeneratorError("avro.always_null must map field names to Avro types")
    return AvroSection(
        fields=tuple(fields),
        nullable=frozenset(_string_list(raw.get("nullable", []), key="nullable")),
        always_null=dict(always_null),
        handwritten=False,
    )


def _without_docs(schema: Any) -> Any:
    """A JSON schema without its documentation, to compare two definitions of one named type."""
    if isinstance(schema, dict):
        return {key: _without_docs(value) for key, value in schema.items() if key not in _DOC_KEYWORDS}
    if isinstance(schema, list):
        return [_without_docs(item) for item in schema]
    return schema


def _avro_field(*, name: str, avro_type: Any, optional: bool, doc: str | None) -> dict[str, Any]:
    # The Avro specification's key order: name, doc, type, default.
    avro_field: dict[str, Any] = {"name": name}
    if doc:
        avro_field["doc"] = doc
    avro_field["type"] = ["null", avro_type] if optional else avro_type
    if optional:
        avro_field["default"] = None
    return avro_field


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str, step: int) -> list[float]:
    bounds = [schema[inclusive]] if isinstance(schema.get(inclusive), (int, float)) else []
    if isinstance(schema.get(exclusive), (int, float)):
        bounds.append(schema[exclusive] + step)
    return bounds


def _is_int32(schema: Mapping[str, Any]) -> bool:
    """Whether the JSON schema bounds an integer to int32 (both ends), so Avro ``int`` holds it."""
    lowest = _bound(schema, "minimum", "exclusiveMinimum", 1)
    highest = _bound(schema, "maximum", "exclusiveMaximum", -1)
    return bool(lowest and highest) and max(lowest) >= INT32_MIN and min(highest) <= INT32_MAX


class _Generator:
    """Maps one record; remembers the named types it has defined, so each is defined once (at its
    first use, depth-first in field order) and referenced by full name afterwards."""

    def __init__(self, *, namespace: str, record_full_name: str) -> None:
        self.namespace = namespace
        # full name → what defined it, to refuse two different definitions under one name
        self.defined: dict[str, Any] = {record_full_name: "the event record"}

    def uuid_type(self) -> Any:
        full_name = f"{self.namespace}.{UUID_TYPE_NAME}"
        if full_name in self.defined:
            if self.defined[full_name] != "uuid":
                raise GeneratorError(f"{full_name} is both the uuid type and a record")
            return full_name
        self.defined[full_name] = "uuid"
        return {"type": "fixed", "name": UUID_TYPE_NAME, "namespace": self.namespace, "size": 16}

    def avro_type(self, schema: Any, *, where: str) -> Any:
        if not isinstance(schema, dict):
            raise GeneratorError(f"{where}: a JSON schema object is needed, got {schema!r}")
        used = [keyword for keyword in _UNMAPPABLE_KEYWORDS if keyword in schema]
        if used:
            raise GeneratorError(f"{where}: {', '.join(used)} cannot be mapped to Avro; spell the type out")
        json_type = schema.get("type")
        if json_type is None:
            values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else []
            if values and all(isinstance(value, str) for value in values):
                json_type = "string"
        if json_type == "string":
            return self.uuid_type() if schema.get("format") == "uuid" else "string"
        if json_type == "integer":
            return "int" if _is_int32(schema) else "long"
        if json_type == "number":
            return "double"
        if json_type == "boolean":
            return "boolean"
        if json_type == "array":
            if not isinstance(schema.get("items"), dict):
                raise GeneratorError(f"{where}: an array needs an `items` schema")
            return {"type": "array", "items": self.avro_type(schema["items"], where=f"{where}[]")}
        if json_type == "object":
            return self._object_type(schema, where=where)
        raise GeneratorError(f"{where}: JSON type {json_type!r} cannot be mapped to Avro")

    def _object_type(self, schema: dict[str, Any], *, where: str) -> Any:
        properties = schema.get("properties")
        values = schema.get("additionalProperties")
        if properties:
            if isinstance(values, dict):
                raise GeneratorError(f"{where}: an object is either a record (properties) or a map, not both")
            return self._record_type(schema, where=where)
        if isinstance(values, dict):
            return {"type": "map", "values": self.avro_type(values, where=f"{where}.*")}
        raise GeneratorError(
            f"{where}: an object needs `properties` and a `title` (a record) "
            'or `additionalProperties` with a schema (a map, e.g. {"type": "string"})'
        )

    def _record_type(self, schema: dict[str, Any], *, where: str) -> Any:
        title = schema.get("title")
        if not isinstance(title, str) or not _AVRO_NAME.match(title):
            raise GeneratorError(f"{where}: an object with properties needs a `title` naming its Avro record")
        full_name = f"{self.namespace}.{title}"
        signature = _without_docs(schema)
        if full_name in self.defined:
            if self.defined[full_name] != signature:
                raise GeneratorError(f"{where}: {full_name} is defined twice, differently")
            return full_name
        self.defined[full_name] = signature
        required = set(schema.get("required", []))
        fields = [
            self.property_field(name, prop, optional=name not in required, where=f"{where}.{name}")
            for name, prop in schema["properties"].items()
        ]
        return {"type": "record", "name": title, "namespace": self.namespace, "fields": fields}

    def property_field(self, name: str, schema: Any, *, optional: bool, where: str) -> dict[str, Any]:
        if not _AVRO_NAME.match(name):
            raise GeneratorError(f"{where}: {name!r} is not a valid Avro field name")
        doc = schema.get("description") if isinstance(schema, dict) else None
        return _avro_field(name=name, avro_type=self.avro_type(schema, where=where), optional=optional, doc=doc or None)


@dataclass(frozen=True)
class _ServerField:
    avro_type: Callable[[_Generator], Any]
    optional: bool
    doc: str


SERVER_FIELDS: Mapping[str, _ServerField] = {
    "device_uuid": _ServerField(
        lambda generator: generator.uuid_type(), True, "The device cookie (oxdid), when it holds a UUID."
    ),
    "user_uuid": _ServerField(
        lambda generator: generator.uuid_type(), True, "The signed-in user (from the SSO token); null when anonymous."
    ),
    "scheme": _ServerField(lambda _: "string", False, "Scheme of source_uri."),
    "host": _ServerField(lambda _: "string", False, "Host of source_uri."),
    "path": _ServerField(lambda _: "string", False, "Path of source_uri."),
    "query": _ServerField(
        lambda _: {"type": "map", "values": {"type": "array", "items": "string"}},
        True,
        "Query string of source_uri, each key with its values in order; null when there is no '?'.",
    ),
    "occurred_at": _ServerField(
        lambda _: {"type": "long", "logicalType": "timestamp-millis"},
        False,
        "When the event happened, corrected for the client's clock skew: "
        "client_clock_occurred_at + (server received at - client_clock_sent_at).",
    ),
    "ip_address": _ServerField(lambda _: "string", False, "The client's IP address (proxy-aware)."),
    "user_agent": _ServerField(lambda _: "string", False, "The User-Agent header; empty when absent."),
}


def _full_name_split(full_name: str) -> tuple[str, str]:
    namespace, _, name = full_name.rpartition(".")
    if not namespace or not all(_AVRO_NAME.match(part) for part in [*namespace.split("."), name]):
        raise GeneratorError(f"{full_name!r} is not a namespaced Avro full name (e.g. org.openstax.ec.nudged_v1)")
    return namespace, name


def avro_schema_generate(*, json_schema: Mapping[str, Any], full_name: str, avro: Any) -> dict[str, Any]:
    """The Avro schema of the Kafka record of an event: ``json_schema`` is what clients send,
    ``avro`` the ``avro`` section of its ``event.json`` (raw or parsed)."""
    section = avro if isinstance(avro, AvroSection) else avro_section_parse(avro)
    if section.handwritten:
        raise GeneratorError(f"{full_name}: its avro.avsc is handwritten, not generated")
    namespace, name = _full_name_split(full_name)
    properties = json_schema.get("properties")
    if json_schema.get("type") != "object" or not isinstance(properties, dict):
        raise GeneratorError(f"{full_name}: the JSON schema must be an object with `properties`")
    payload = [prop for prop in properties if prop not in CONSUMED_FIELDS]
    required = set(json_schema.get("required", []))
    listed = set(section.fields)

    clashes = sorted(set(payload) & set(SERVER_FIELDS))
    if clashes:
        raise GeneratorError(f"{full_name}: {', '.join(clashes)} are server fields; clients must not send them")
    clashes = sorted(set(section.always_null) & (set(properties) | set(SERVER_FIELDS)))
    if clashes:
        raise GeneratorError(f"{full_name}: always_null {', '.join(clashes)} are payload or server fields")
    lost = [prop for prop in payload if prop not in listed]
    if lost:
        raise GeneratorError(f"{full_name}: payload properties missing from avro.fields, data would be lost: {lost}")
    not_listed = sorted(set(section.always_null) - listed)
    if not_listed:
        raise GeneratorError(f"{full_name}: always_null fields missing from avro.fields: {not_listed}")
    wrong = sorted(section.nullable - (set(payload) & required))
    if wrong:
        raise GeneratorError(f"{full_name}: avro.nullable must name JSON-required payload properties, not {wrong}")

    generator = _Generator(namespace=namespace, record_full_name=full_name)
    fields = []
    for field_name in section.fields:
        if field_name in CONSUMED_FIELDS:
            raise GeneratorError(f"{full_name}: {field_name} is consumed by the server and never an Avro field")
        if field_name in section.always_null:
            avro_type = section.always_null[field_name]
            if isinstance(avro_type, list) or avro_type == "null":
                raise GeneratorError(f"{full_name}: always_null {field_name} needs a non-null, non-union Avro type")
            fields.append(
                _avro_field(
                    name=field_name,
                    avro_type=avro_type,
                    optional=True,
                    doc="Not accepted from clients: always null.",
                )
            )
        elif field_name in payload:
            optional = field_name not in required or field_name in section.nullable
            fields.append(
                generator.property_field(field_name, properties[field_name], optional=optional, where=field_name)
            )
        elif field_name in SERVER_FIELDS:
            server = SERVER_FIELDS[field_name]
            fields.append(
                _avro_field(
                    name=field_name, avro_type=server.avro_type(generator), optional=server.optional, doc=server.doc
                )
            )
        else:
            raise GeneratorError(
                f"{full_name}: avro.fields names {field_name!r}, which is neither a payload property, "
                "a server field nor an always_null field"
            )

    record: dict[str, Any] = {"type": "record", "name": name, "namespace": namespace}
    if json_schema.get("description"):
        record["doc"] = json_schema["description"]
    record["fields"] = fields
    try:
        avro_schema_parse(record)
    except InvalidAvroSchema as exc:
        raise GeneratorError(f"{full_name}: the generated Avro schema does not parse: {exc}") from exc
    return record
