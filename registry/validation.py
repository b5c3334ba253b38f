"""The checks every new revision passes, whichever way it arrives (files, admin, registry API)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import jsonschema_rs
from django.core.exceptions import ValidationError

from registry.avro import InvalidAvroSchema, avro_schema_full_name, avro_schema_parse
from registry.compatibility import EarlierSchema, compatibility_problems, schema_parses
from registry.record_fit import avro_type_problems, record_fit_problems

if TYPE_CHECKING:
    from registry.models import EventMajor, SchemaRevision


def json_schema_problems(json_schema: Any) -> list[str]:
    if not isinstance(json_schema, dict):
        return ["The JSON schema must be a JSON object."]
    try:
        jsonschema_rs.validator_for(json_schema, validate_formats=True)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [f"The JSON schema is not a valid JSON Schema: {first_line}"]
    return []


def avro_schema_problems(avro_schema: str, *, full_name: str) -> list[str]:
    try:
        parsed_json = json.loads(avro_schema)
    except ValueError as exc:
        return [f"The Avro schema is not JSON: {exc}"]
    if not isinstance(parsed_json, dict) or parsed_json.get("type") != "record" or "name" not in parsed_json:
        return ["The Avro schema must be a record."]
    try:
        avro_schema_parse(parsed_json)
    except InvalidAvroSchema as exc:
        return [f"The Avro schema is invalid: {exc}"]
    reason = schema_parses(avro_schema)
    if reason is not None:
        return [f"The Avro schema is invalid: {reason}"]
    record_name = avro_schema_full_name(parsed_json)
    if record_name != full_name:
        return [f"The Avro record is named {record_name!r}; the revisions of this major must be named {full_name!r}."]
    # Before anything walks its types: the compatibility checker, the record fit, the worker.
    return avro_type_problems(parsed_json)


def earlier_schemas(*, major: EventMajor) -> list[EarlierSchema]:
    return [
        EarlierSchema(version=revision, schema=schema)
        for revision, schema in major.revisions.order_by("revision").values_list("revision", "avro_schema")
    ]


def compatibility_reasons(
    *, major: EventMajor, avro_schema: str, level: str | None = None, version: int | None = None
) -> list[str]:
    """Why ``avro_schema`` breaks the major's level (or ``level``) against its earlier revisions,
    or against revision ``version`` alone when given."""
    level = level or major.compatibility
    earlier = earlier_schemas(major=major)
    if version is not None:
        earlier = [schema for schema in earlier if schema.version == version]
        level = level.removesuffix("_TRANSITIVE")
    problems = compatibility_problems(candidate=avro_schema, earlier=earlier, level=level)
    return [f"Incompatible under {level}: {problem}" for problem in problems]


def revision_problems(*, revision: SchemaRevision) -> list[ValidationError]:
    """Every reason ``revision`` may not be published; codes ``invalid`` and ``incompatible``.
    A breaking change is reported alone: it needs a new major whatever else is wrong."""
    major = revision.major
    problems = json_schema_problems(revision.json_schema)
    problems += avro_schema_problems(revision.avro_schema, full_name=major.full_name)
    if problems:
        return [ValidationError(problem, code="invalid") for problem in problems]
    reasons = compatibility_reasons(major=major, avro_schema=revision.avro_schema)
    if reasons:
        return [ValidationError(reason, code="incompatible") for reason in reasons]
    problems = record_fit_problems(
        json_schema=revision.json_schema, avro_schema=revision.avro_schema, full_name=major.full_name
    )
    return [ValidationError(problem, code="invalid") for problem in problems]
