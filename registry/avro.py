"""Pure helpers for Avro schemas: parsing and fingerprints. No database, no I/O."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form


class InvalidAvroSchema(ValueError):
    pass


def avro_schema_parse(schema: dict[str, Any] | str) -> Any:
    """Parse (and so check) an Avro schema; returns fastavro's parsed form."""
    try:
        raw = json.loads(schema) if isinstance(schema, str) else schema
        return fastavro.parse_schema(raw)
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        raise InvalidAvroSchema(str(exc)) from exc


def avro_schema_fingerprint(schema: dict[str, Any] | str) -> str:
    """SHA-256 of the schema's parsing canonical form: equal for schemas that mean the same."""
    parsed = avro_schema_parse(schema)
    return hashlib.sha256(to_parsing_canonical_form(parsed).encode()).hexdigest()


def avro_schema_full_name(schema: dict[str, Any]) -> str:
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def avro_schema_text(schema: dict[str, Any]) -> str:
    """The compact text a schema is stored and served as."""
    return json.dumps(schema, separators=(",", ":"))
