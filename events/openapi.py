"""How the OpenAPI document of the public API (``/api/v0/swagger``, ``operations/openapi.py``)
describes the ingestion endpoints: ``extend_schema`` arguments for the views in ``events/views.py``.

drf-spectacular generates the document from these. The serializers here only document JSON shapes
(the ingestion views parse their bodies with the services, not with serializers): the error shape,
the accepted-batch answer and the batch envelope.

The one part no serializer can describe is each event's payload: the JSON schema of an active event
version, read from the registry for every document, so the document never lags the registry. The
serializer extensions ``EventDataSchema`` and ``StatementBodySchema`` register those schemas in
drf-spectacular's component registry (each version's schema as a component named after its full
name, dots replaced by ``_``) and refer to them. OpenAPI 3.1's schemas are JSON Schema 2020-12, the
registry's dialect; only what places a schema in a document changes: ``$schema`` and ``$id`` are
dropped (an ``$id`` would move the base of its ``$ref``s) and ``$defs`` become components of their
own.

What client generators need (clients are generated from this document, see
tests/test_generated_clients.py): the discriminator's ``type`` is a string property on every event
component; the registry's ``if``/``then`` choices by a property's value (the xAPI actor and object,
by ``objectType``), which generators do not read, are written as the same choice with ``oneOf`` and a
discriminator (``dispatches_as_discriminators``); the xAPI body's one-or-many shape is a choice of
two named components.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentIdentity, ResolvedComponent
from drf_spectacular.utils import Direction, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from events.services import XAPI_STATEMENT
from registry.selectors import event_version_get, schema_revision_get, subject_list

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


def _string_typed(schema: Mapping[str, Any], *, prop: str) -> dict[str, Any]:
    """``schema`` with its property ``prop`` (pinned by ``const`` or ``enum`` to strings) also typed
    as a string: generators take a discriminator only on a property typed as a string."""
    properties = dict(schema["properties"])
    properties[prop] = {"type": "string", **properties[prop]}
    return {**schema, "properties": properties}


def _const_dispatch(node: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """``(property, {value: $ref})`` when ``node`` chooses its schema by one property's value, as
    the registry's xAPI schema does (JSON Schema 2020-12, which generators do not read): an ``allOf``
    of ``{"if": {"required": [p], "properties": {p: {"const": value}}}, "then": {"$ref": ...}}``,
    ``p`` required and its ``enum`` exactly those values."""
    choices = node.get("allOf")
    if not isinstance(choices, list) or not choices:
        return None
    mapping: dict[str, str] = {}
    prop = None
    for choice in choices:
        condition, then = choice.get("if"), choice.get("then")
        if set(choice) != {"if", "then"} or not isinstance(condition, Mapping) or not isinstance(then, Mapping):
            return None
        pins = condition.get("properties")
        if not isinstance(pins, Mapping) or len(pins) != 1:
            return None
        [(name, pinned)] = pins.items()
        if prop not in (None, name) or condition.get("required") != [name] or set(then) != {"$ref"}:
            return None
        if not isinstance(pinned, Mapping) or set(pinned) != {"const"} or not isinstance(pinned["const"], str):
            return None
        prop = name
        mapping[pinned["const"]] = then["$ref"]
    own = (node.get("properties") or {}).get(prop)
    if prop is None or prop not in node.get("required", []) or not isinstance(own, Mapping):
        return None
    if sorted(own.get("enum", [])) != sorted(mapping):
        return None
    return prop, mapping


def dispatches_as_discriminators(components: dict[str, Any]) -> dict[str, Any]:
    """The components with every by-value choice (``_const_dispatch``) written as the same choice in
    OpenAPI's terms, a ``oneOf`` of the chosen components with a ``discriminator``, when each chosen
    component is an object that requires the property and pins it to its value: then exactly one
    of them matches what the ``if``/``then`` chain accepts, and nothing else does."""
    out = copy.deepcopy(components)

    def target(ref: str) -> str | None:
        name = ref.removeprefix(_COMPONENTS)
        return name if ref.startswith(_COMPONENTS) and name in out else None

    def rewritten(node: Any) -> Any:
        if isinstance(node, list):
            return [rewritten(item) for item in node]
        if not isinstance(node, dict):
            return node
        dispatch = _const_dispatch(node)
        if dispatch is not None:
            prop, mapping = dispatch
            names = {value: target(ref) for value, ref in mapping.items()}
            if all(
                name is not None
                and out[name].get("type") == "object"
                and prop in out[name].get("required", [])
                and (out[name].get("properties") or {}).get(prop, {}).get("const") == value
                for value, name in names.items()
            ):
                for name in names.values():
                    assert name is not None
                    out[name] = _string_typed(out[name], prop=prop)
                choice = {
                    key: value for key, value in node.items() if key not in ("type", "required", "properties", "allOf")
                }
                return {
                    **choice,
                    "oneOf": [{"$ref": mapping[value]} for value in mapping],
                    "discriminator": {"propertyName": prop, "mapping": mapping},
                }
        return {key: value if key in _DATA_KEYWORDS else rewritten(value) for key, value in node.items()}

    for name in list(out):
        out[name] = rewritten(out[name])
    return out


def _registry_components(auto_schema: Any) -> dict[str, dict[str, Any]]:
    """Registers a component for every active event version (and its ``$defs``) in this document's
    component registry, once per document, and answers the active versions' JSON schemas."""
    active = _active_json_schemas()
    for full_name, schema in active.items():
        components = dispatches_as_discriminators(json_schema_components(schema, name=component_name(full_name)))
        if _is_event(full_name, schema):
            components[component_name(full_name)] = _string_typed(components[component_name(full_name)], prop="type")
        for name, component in components.items():
            _component_register(auto_schema, name=name, schema=component)
    return active


def _component_register(auto_schema: Any, *, name: str, schema: dict[str, Any]) -> None:
    """Adds a schema component to the document drf-spectacular is building, unless it has it."""
    component = ResolvedComponent(  # type: ignore[no-untyped-call]
        name=name,
        type=ResolvedComponent.SCHEMA,
        object=ComponentIdentity(name),  # type: ignore[no-untyped-call]
        schema=schema,
    )
    auto_schema.registry.register_on_missing(component)


# --- The answers' shapes ------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        help_text="Position of the event (or statement) in the request; null for the whole request.",
    )
    path = serializers.CharField(
        allow_null=True, help_text="Where in the item, e.g. `data.session_uuid`; null for the whole request."
    )
    code = serializers.CharField(help_text="A stable snake_case identifier, e.g. `required`.")
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error of the API: `messages` in the old service's shape (old clients), `errors` structured."""

    status_code = serializers.IntegerField(help_text="The HTTP status.")
    messages = serializers.ListField(
        child=serializers.CharField(),
        help_text="One line per problem, e.g. `Event [0]: session_uuid is required`.",
    )
    # A field named like Serializer.errors (the metaclass moves it to the declared fields).
    errors = ErrorDetailSerializer(many=True)  # type: ignore[assignment]


class AcceptedBatchSerializer(serializers.Serializer[Any]):
    """Every item of the request is durably queued for delivery to Kafka."""

    accepted = serializers.IntegerField(min_value=0, help_text="How many items were accepted.")
    ids = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="The server-assigned event ids, in request order (each Kafka record's `event_id`).",
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="e.g. fields the event's schema does not define, which were dropped.",
    )


# --- The request bodies -------------------------------------------------------------------------


class EventDataSerializer(serializers.Serializer[Any]):
    """An event: the payload of one active event version, chosen by `type` (``EventDataSchema``)."""


class EventSerializer(serializers.Serializer[Any]):
    data = EventDataSerializer()  # type: ignore[assignment]  # a field named like Serializer.data


class EventBatchSerializer(serializers.Serializer[Any]):
    events = EventSerializer(many=True)


class StatementBodySerializer(serializers.Serializer[Any]):
    """One xAPI Statement, or an array of them (``StatementBodySchema``)."""


class EventDataSchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """``EventData``: one of the registry's active events, by their ``type`` (a discriminator)."""

    target_class = EventDataSerializer

    def get_name(self, auto_schema: Any, direction: Direction) -> str:
        return "EventData"

    def map_serializer(self, auto_schema: Any, direction: Direction) -> dict[str, Any]:
        active = _registry_components(auto_schema)
        events = sorted(full_name for full_name, schema in active.items() if _is_event(full_name, schema))
        data: dict[str, Any] = {"description": "An event: the payload of one active event version, chosen by `type`."}
        if not events:
            return {**data, "type": "object"}
        return {
            **data,
            "oneOf": [_ref(component_name(full_name)) for full_name in events],
            "discriminator": {
                "propertyName": "type",
                "mapping": {full_name: f"{_COMPONENTS}{component_name(full_name)}" for full_name in events},
            },
        }


class StatementBodySchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """``StatementBody``: a ``Statement`` or a ``StatementList``, two named components. typescript-fetch
    imports each choice's model, so the two must name different models: with the registry's statement
    on both sides (itself and its array) the client declares its imports twice and does not compile.
    ``Statement`` is the registry's statement (an ``allOf`` of it), ``StatementList`` an array of it."""

    target_class = StatementBodySerializer

    def get_name(self, auto_schema: Any, direction: Direction) -> str:
        return "StatementBody"

    def map_serializer(self, auto_schema: Any, direction: Direction) -> dict[str, Any]:
        active = _registry_components(auto_schema)
        statement = _ref(component_name(XAPI_STATEMENT)) if XAPI_STATEMENT in active else {"type": "object"}
        _component_register(
            auto_schema, name="Statement", schema={"description": "One xAPI Statement.", "allOf": [statement]}
        )
        _component_register(
            auto_schema,
            name="StatementList",
            schema={"description": "xAPI Statements.", "type": "array", "items": statement},
        )
        return {
            "description": "One xAPI Statement, or an array of them.",
            "oneOf": [_ref("Statement"), _ref("StatementList")],
        }


class RequiredBodySchema(AutoSchema):
    """The view's request body is required. drf-spectacular infers that from the body's required
    properties, and a one-or-many body (``StatementBody``) has none."""

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        body: dict[str, Any] | None = super()._get_request_body(direction)  # type: ignore[no-untyped-call]
        if body is not None:
            body["required"] = True
        return body


# --- Operations -----------------------------------------------------------------------------------

_RETRY_AFTER_SCHEMA = {"type": "integer", "minimum": 0}


def retry_after(*statuses: int) -> OpenApiParameter:
    return OpenApiParameter(
        "Retry-After",
        _RETRY_AFTER_SCHEMA,
        OpenApiParameter.HEADER,
        response=list(statuses),
        required=True,
        description="Seconds to wait before retrying.",
    )


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


# Every /api/ view is rate limited.
RATE_LIMITED = error_response("`rate_limited`: over the per-client or per-user rate limit.")

_BODY_NOTES = (
    "Also accepted as `text/plain` holding JSON (as `navigator.sendBeacon` sends), and with "
    "`Content-Encoding: gzip`. At most `MAX_EVENTS_PER_REQUEST` (default 500) items and "
    "`MAX_REQUEST_BYTES` (default 1 MiB) per request. All or nothing: one invalid item refuses the request."
)


def _ingestion_responses(item: str) -> dict[int, OpenApiResponse]:
    return {
        202: OpenApiResponse(
            response=AcceptedBatchSerializer, description=f"Every {item} is durably queued for delivery."
        ),
        400: error_response(
            "`malformed_json`, `malformed_request`: the body is not JSON, or not of the expected shape."
        ),
        413: error_response("`payload_too_large`: the body (after decompression) is over `MAX_REQUEST_BYTES`."),
        415: error_response("`unsupported_media_type`: another content type or content encoding."),
        422: error_response(
            f"Every problem of every {item}, and nothing accepted: `unknown_event_type`, `required`, "
            "`invalid_type`, `invalid_format`, `invalid_value`, `too_many_events`, …"
        ),
        429: RATE_LIMITED,
        503: error_response("`queue_unavailable`: the batch could not be queued (Redis down); nothing was accepted."),
    }


# The request bodies are documented as JSON only; `text/plain` (a beacon) is in the description.
EVENTS_OPERATION: dict[str, Any] = {
    "operation_id": "events_create",
    "summary": "Send a batch of events",
    "description": "Each `data` is validated against the JSON schema of its `type`, an active event "
    "version of the registry. Fields the schema does not define are dropped and reported in "
    "`warnings`. " + _BODY_NOTES,
    "tags": ["events"],
    "request": {"application/json": EventBatchSerializer},
    "parameters": [retry_after(429, 503)],
    "responses": _ingestion_responses("event"),
}

XAPI_OPERATION: dict[str, Any] = {
    "operation_id": "xapi_statements_create",
    "summary": "Send xAPI statements",
    "description": "One xAPI Statement, or an array of them; `index` in errors is the position in "
    "the array. Each statement is completed as an xAPI 1.0.3 LRS completes it (a missing `id`, the "
    "`objectType`s xAPI lets clients leave out, `stored`, and `timestamp` and `version` when absent), "
    "then checked against xAPI 1.0.3; keys xAPI does not define are refused. An attachment needs a "
    "`fileUrl` here (422 without): its data can only come with the statement in the LRS mode below. "
    + _BODY_NOTES
    + " This is the service's own contract. A request carrying `X-Experience-API-Version` (as every "
    "xAPI client library sends it) is answered as by an xAPI 1.0.3 Learning Record Store instead, as "
    "the xAPI specification describes: 200 with the statements' ids, 400 for an invalid statement, "
    "`PUT ?statementId=`, and `multipart/mixed` bodies carrying attachments' data and signed "
    "statements. That mode is for xAPI clients and is not part of this document.",
    "tags": ["events"],
    "request": {"application/json": StatementBodySerializer},
    "parameters": [retry_after(429, 503)],
    "responses": _ingestion_responses("statement"),
}
