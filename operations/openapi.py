"""The OpenAPI 3.1 document of the public API, served at ``/api/v0/swagger`` (drf-spectacular).

drf-spectacular walks the URL conf; the hooks here (``SPECTACULAR_SETTINGS``) keep the public API
only and document the ingestion endpoints by hand, because their bodies are defined by the event
registry, not by serializers. Each active event version's JSON schema becomes a component named
after its full name (dots replaced by ``_``), read from the registry for every document, so the
document never lags the registry. OpenAPI 3.1's schemas are JSON Schema 2020-12, the registry's
dialect; only what places a schema in a document changes: ``$schema`` and ``$id`` are dropped
(an ``$id`` would move the base of its ``$ref``s) and ``$defs`` become components of their own.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiResponse

from events.services import XAPI_STATEMENT
from operations.health import app_version
from registry.selectors import event_version_get, schema_revision_get, subject_list

EVENTS_PATH = "/api/v0/events"
XAPI_PATH = "/api/v0/xapi/statements"

_COMPONENTS = "#/components/schemas/"
# Keywords whose values are data, not schemas: never rewritten.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples", "example"})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"{_COMPONENTS}{name}"}


def component_name(*parts: str) -> str:
    """A component name (``^[A-Za-z0-9._-]+$``) for an event's full name, dots replaced by ``_``."""
    return "_".join(re.sub(r"[^A-Za-z0-9_-]", "_", part) for part in parts)


def json_schema_components(schema: Mapping[str, Any], *, name: str) -> dict[str, Any]:
    """The components documenting one registry JSON schema (2020-12) in OpenAPI 3.1: the schema
    as ``name`` and each of its ``$defs`` as ``name_<def>``, with local ``$ref``s pointing at them."""

    def def_component(pointer_token: str) -> str:
        return component_name(name, pointer_token.replace("~1", "/").replace("~0", "~"))

    def ref_rewrite(ref: str) -> str:
        if ref == "#":
            return f"{_COMPONENTS}{name}"
        if ref.startswith("#/$defs/"):
            token, slash, rest = ref.removeprefix("#/$defs/").partition("/")
            return f"{_COMPONENTS}{def_component(token)}{slash}{rest}"
        if ref.startswith("#/"):
            return f"{_COMPONENTS}{name}/{ref.removeprefix('#/')}"
        return ref

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, Mapping):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$schema", "$id"):
                continue
            if key == "$ref" and isinstance(value, str):
                out[key] = ref_rewrite(value)
            elif key in _DATA_KEYWORDS:
                out[key] = copy.deepcopy(value)
            elif key in ("properties", "patternProperties", "$defs", "dependentSchemas") and isinstance(value, Mapping):
                # Maps of names to schemas: the names are data (a property may be called "$id").
                out[key] = {child: rewrite(child_schema) for child, child_schema in value.items()}
            else:
                out[key] = rewrite(value)
        return out

    root = {key: value for key, value in schema.items() if key != "$defs"}
    components: dict[str, Any] = {name: rewrite(root)}
    for def_name, def_schema in (schema.get("$defs") or {}).items():
        components[def_component(def_name)] = rewrite(def_schema)
    return components


def _active_json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema clients send for each active event version, as the API validates them."""
    schemas = {}
    for full_name in subject_list():
        version = event_version_get(full_name=full_name)
        revision = None if version is None else schema_revision_get(schema_id=version.schema_id)
        if revision is not None:
            schemas[full_name] = revision.json_schema
    return schemas


def _is_event(full_name: str, schema: Mapping[str, Any]) -> bool:
    """Whether clients send this version to /events: its schema pins ``type`` to its full name."""
    type_schema = (schema.get("properties") or {}).get("type")
    return isinstance(type_schema, Mapping) and type_schema.get("const") == full_name


# --- Shared parts ---------------------------------------------------------------------------------

_STRINGS = {"type": "array", "items": {"type": "string"}}

_STATIC_COMPONENTS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every error of the API. `messages` keeps the old service's shape for old clients; "
        "`errors` is the structured form.",
        "required": ["status_code", "messages", "errors"],
        "properties": {
            "status_code": {"type": "integer", "description": "The HTTP status."},
            "messages": {
                **_STRINGS,
                "description": "One line per problem, e.g. `Event [0]: session_uuid is required`.",
            },
            "errors": {"type": "array", "items": _ref("ErrorDetail")},
        },
    },
    "ErrorDetail": {
        "type": "object",
        "required": ["index", "path", "code", "message"],
        "properties": {
            "index": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "Position of the event (or statement) in the request; null for the whole request.",
            },
            "path": {
                "type": ["string", "null"],
                "description": "Where in the item, e.g. `data.session_uuid`; null for the whole request.",
            },
            "code": {"type": "string", "description": "A stable snake_case identifier, e.g. `required`."},
            "message": {"type": "string"},
        },
    },
    "AcceptedBatch": {
        "type": "object",
        "description": "Every item of the request is durably queued for delivery to Kafka.",
        "required": ["accepted", "ids", "warnings"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0, "description": "How many items were accepted."},
            "ids": {
                "type": "array",
                "items": {"type": "string", "format": "uuid"},
                "description": "The server-assigned event ids, in request order (each Kafka record's `event_id`).",
            },
            "warnings": {
                **_STRINGS,
                "description": "e.g. fields the event's schema does not define, which were dropped.",
            },
        },
    },
    "Info": {
        "type": "object",
        "required": ["env_name", "accounts_env_name", "git_sha", "version", "overall_took_ms"],
        "properties": {
            "env_name": {"type": "string"},
            "accounts_env_name": {"type": "string"},
            "git_sha": {"type": "string", "description": "The deployed commit, or `unknown`."},
            "version": {"type": "string"},
            "overall_took_ms": {"type": "integer", "minimum": 0},
            "data": {
                "description": "Admins only (a staff session, or an SSO user in `ADMIN_UUIDS`).",
                "oneOf": [_ref("InfoAdminData"), _ref("InfoErrors")],
            },
        },
    },
    "InfoAdminData": {
        "type": "object",
        "required": ["kafka_topics", "schema_registry_subjects"],
        "properties": {"kafka_topics": _STRINGS, "schema_registry_subjects": _STRINGS},
    },
    "InfoErrors": {
        "type": "object",
        "description": "Kafka (or the database) did not answer.",
        "required": ["errors"],
        "properties": {"errors": _STRINGS},
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if retry_after:
        response["headers"] = copy.deepcopy(_RETRY_AFTER)
    return response


_RATE_LIMITED = "`rate_limited`: over the per-client or per-user rate limit."


def _ingestion_responses(item: str) -> dict[str, Any]:
    return {
        "202": {
            "description": f"Every {item} is durably queued for delivery.",
            "content": {"application/json": {"schema": _ref("AcceptedBatch")}},
        },
        "400": _error("`malformed_json`, `malformed_request`: the body is not JSON, or not of the expected shape."),
        "413": _error("`payload_too_large`: the body (after decompression) is over `MAX_REQUEST_BYTES`."),
        "415": _error("`unsupported_media_type`: another content type or content encoding."),
        "422": _error(
            f"Every problem of every {item}, and nothing accepted: `unknown_event_type`, `required`, "
            "`invalid_type`, `invalid_format`, `invalid_value`, `too_many_events`, …"
        ),
        "429": _error(_RATE_LIMITED, retry_after=True),
        "503": _error(
            "`queue_unavailable`: the batch could not be queued (Redis down); nothing was accepted.",
            retry_after=True,
        ),
    }


_BODY_NOTES = (
    "Also accepted as `text/plain` holding JSON (as `navigator.sendBeacon` sends), and with "
    "`Content-Encoding: gzip`. At most `MAX_EVENTS_PER_REQUEST` (default 500) items and "
    "`MAX_REQUEST_BYTES` (default 1 MiB) per request. All or nothing: one invalid item refuses the request."
)


def _events_operation() -> dict[str, Any]:
    return {
        "operationId": "events_create",
        "summary": "Send a batch of events",
        "description": "Each `data` is validated against the JSON schema of its `type`, an active event "
        "version of the registry. Fields the schema does not define are dropped and reported in "
        "`warnings`. " + _BODY_NOTES,
        "tags": ["events"],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("EventBatch")}},
        },
        "responses": _ingestion_responses("event"),
    }


def _xapi_operation() -> dict[str, Any]:
    return {
        "operationId": "xapi_statements_create",
        "summary": "Send xAPI statements",
        "description": "One xAPI Statement, or an array of them; `index` in errors is the position in "
        "the array. Keys xAPI does not define are refused. " + _BODY_NOTES,
        "tags": ["events"],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("StatementBody")}},
        },
        "responses": _ingestion_responses("statement"),
    }


def _event_components(active: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for full_name, schema in active.items():
        components.update(json_schema_components(schema, name=component_name(full_name)))
    events = sorted(full_name for full_name, schema in active.items() if _is_event(full_name, schema))
    data: dict[str, Any] = {"description": "An event: the payload of one active event version, chosen by `type`."}
    if events:
        data["oneOf"] = [_ref(component_name(full_name)) for full_name in events]
        data["discriminator"] = {
            "propertyName": "type",
            "mapping": {full_name: f"{_COMPONENTS}{component_name(full_name)}" for full_name in events},
        }
    else:
        data["type"] = "object"
    components["EventData"] = data
    components["Event"] = {"type": "object", "required": ["data"], "properties": {"data": _ref("EventData")}}
    components["EventBatch"] = {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "items": _ref("Event")}},
    }
    statement = _ref(component_name(XAPI_STATEMENT)) if XAPI_STATEMENT in active else {"type": "object"}
    components["StatementBody"] = {
        "description": "One xAPI Statement, or an array of them.",
        "oneOf": [statement, {"type": "array", "items": copy.deepcopy(statement)}],
    }
    return components


# --- drf-spectacular hooks and extend_schema arguments ----------------------------------------------

INFO_OPERATION: dict[str, Any] = {
    "operation_id": "info_retrieve",
    "summary": "What is deployed",
    "description": "The environment, version and commit; admins (a staff session, or an SSO user in "
    "`ADMIN_UUIDS`) also get `data`: the Kafka topics and the schema-registry subjects, or `errors` "
    "when Kafka does not answer.",
    "tags": ["service"],
    "responses": {200: OpenApiResponse(response=_ref("Info"), description="The deployment.")},
}


def endpoints_public_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """PREPROCESSING_HOOK: the API under /api/ only (not the schema registry), without the
    ingestion endpoints, which ``document_complete`` documents."""
    return [
        endpoint
        for endpoint in endpoints
        if str(endpoint[0]).startswith("/api/") and endpoint[0] not in (EVENTS_PATH, XAPI_PATH)
    ]


def document_complete(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: the ingestion endpoints with the registry's active event versions, the
    error shape, and 429 on every operation (every /api/ view is rate limited)."""
    result["info"]["version"] = app_version()
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(copy.deepcopy(_STATIC_COMPONENTS))
    schemas.update(_event_components(_active_json_schemas()))
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    paths = result.setdefault("paths", {})
    paths[EVENTS_PATH] = {"post": _events_operation()}
    paths[XAPI_PATH] = {"post": _xapi_operation()}
    for item in paths.values():
        for operation in item.values():
            operation["responses"].setdefault("429", _error(_RATE_LIMITED, retry_after=True))
    result["paths"] = dict(sorted(paths.items()))
    result["tags"] = [
        {"name": "events", "description": "Sending events."},
        {"name": "service", "description": "The service itself."},
    ]
    return result
