"""Pure helpers for Avro schemas: parsing and fingerprints. No database, no I/O."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from eventcapture.exceptions import ApiError
from eventcapture.parsing import json_parse


class InvalidAvroSchema(ValueError):
    pass


def _fields_in(value: Any) -> int:
    if isinstance(value, dict):
        own = len(value["fields"]) if isinstance(value.get("fields"), list) else 0
        return own + sum(_fields_in(child) for child in value.values())
    if isinstance(value, list):
        return sum(_fields_in(child) for child in value)
    return 0


def schema_text_load(
    text: str, *, max_chars: int, max_depth: int, max_fields: int | None = None, what: str = "The schema"
) -> Any:
    """The JSON of a schema's text, read within limits before anything else looks at it: at most
    ``max_chars`` characters and ``max_depth`` deep (then a walk of it cannot run out of stack),
    text UTF-8 can hold, and with ``max_fields``, at most that many fields in all its records.
    ``InvalidAvroSchema`` says which limit it passed."""
    if len(text) > max_chars:
        raise InvalidAvroSchema(f"{what} is {len(text)} characters long; at most {max_chars} are allowed")
    try:
        value = json_parse(text.encode("utf-8"), max_depth=max_depth, what=what)
    except UnicodeEncodeError as exc:
        raise InvalidAvroSchema(f"{what} holds text UTF-8 cannot (a lone surrogate)") from exc
    except ApiError as exc:
        raise InvalidAvroSchema(exc.message) from exc
    if max_fields is not None and (fields := _fields_in(value)) > max_fields:
        raise InvalidAvroSchema(f"{what} has {fields} fields; at most {max_fields} are allowed")
    return value


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
