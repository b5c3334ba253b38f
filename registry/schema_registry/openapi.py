"""The OpenAPI 3.1 document of the schema-registry API, served at ``/schema-registry/openapi.json``.

drf-spectacular generates it from the views' ``extend_schema`` arguments below: the serializers
here only describe Confluent's JSON shapes (the views answer plain data, as Confluent does). It is
a document of its own, apart from the ingestion API's (``/api/v0/swagger``), whose clients are
generated from it: registry clients are Confluent's.

``links_add`` adds OpenAPI links (drf-spectacular has no argument for them): the id a register
answers leads to the schema by id, a version to its schema, compatibility check and look-up. They
tell readers how the answers chain, and they are what schemathesis's stateful run follows
(``tests/registry/test_schema_registry_stateful.py``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from registry.models import EventMajor
from registry.schema_registry.media import CONTENT_TYPE

PATH_PREFIX = "/schema-registry/"
DOCUMENT_TITLE = "Event capture schema registry"

_LEVELS = list(EventMajor.Compatibility.values)
_TAG_SUBJECTS = ["subjects"]
_TAG_SCHEMAS = ["schemas"]
_TAG_COMPATIBILITY = ["compatibility"]
_TAG_CONFIG = ["config"]


# --- Confluent's JSON shapes ---------------------------------------------------------------------


class RegistryErrorSerializer(serializers.Serializer[Any]):
    """Every error of this API, in Confluent's shape."""

    error_code = serializers.IntegerField(
        help_text="Confluent's code: 40401 subject, 40402 version, 40403 schema not found; 409 incompatible; "
        "42201 invalid schema, 42202 invalid version, 42203 invalid level; 40101 unauthenticated, "
        "40301 forbidden; 40501 deletes refused; 42205 a read-only subject; 42901 too many requests; else the "
        "HTTP status."
    )
    message = serializers.CharField(help_text="What went wrong, at most 1,000 characters.")


class SchemaBodySerializer(serializers.Serializer[Any]):
    """A schema to register, look up or check: Avro only, with its named types inline."""

    schema = serializers.CharField(
        help_text="The Avro schema as JSON text. At most `MAX_SCHEMA_CHARS` characters, "
        "`MAX_JSON_DEPTH` deep and `MAX_SCHEMA_FIELDS` fields."
    )
    schemaType = serializers.ChoiceField(
        choices=["AVRO"], required=False, help_text="`AVRO`, the default; other types are refused (42201)."
    )
    references = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=0,
        help_text="Not supported: absent or empty (any reference: 42201).",
    )


class RegisteredSchemaSerializer(serializers.Serializer[Any]):
    """One version of a subject: a revision of an event major."""

    subject = serializers.CharField(help_text="The subject: the Avro record's full name.")
    version = serializers.IntegerField(help_text="The version within the subject: the revision number.")
    id = serializers.IntegerField(help_text="The global schema id, as Kafka records carry it.")
    schema = serializers.CharField(help_text="The Avro schema as JSON text.")


class SchemaIdSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(help_text="The global schema id of the registered (or already present) schema.")


class SchemaStringSerializer(serializers.Serializer[Any]):
    schema = serializers.CharField(help_text="The Avro schema as JSON text.")


class SubjectVersionSerializer(serializers.Serializer[Any]):
    subject = serializers.CharField()
    version = serializers.IntegerField()


class CompatibilityResultSerializer(serializers.Serializer[Any]):
    is_compatible = serializers.BooleanField()
    messages = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Why not, with `verbose=true`."
    )


class CompatibilityLevelSerializer(serializers.Serializer[Any]):
    compatibilityLevel = serializers.ChoiceField(choices=_LEVELS)


class CompatibilityLevelChangeSerializer(serializers.Serializer[Any]):
    compatibility = serializers.ChoiceField(
        choices=_LEVELS, help_text="The level; lower case is accepted too. Anything else: 42203."
    )


# --- Authentication: who may write (see ``auth``) ------------------------------------------------


class _WritesOnly(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """A scheme required only by the methods a view lists in ``write_permissions``: reads are open."""

    name: str

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        if auto_schema.method not in getattr(auto_schema.view, "write_permissions", {}):
            return []
        return [{self.name: []}]


class RegistryBasicScheme(_WritesOnly):  # type: ignore[no-untyped-call]
    target_class = "registry.schema_registry.auth.RegistryBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "basic"}


class RegistryTokenScheme(_WritesOnly):  # type: ignore[no-untyped-call]
    target_class = "registry.schema_registry.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> Any:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")  # noqa: S106 (a scheme's name)


class RegistryBearerScheme(_WritesOnly):  # type: ignore[no-untyped-call]
    target_class = "registry.schema_registry.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A DRF token key, as `Bearer <key>`."}


class RegistrySessionScheme(_WritesOnly):  # type: ignore[no-untyped-call]
    target_class = "registry.schema_registry.auth.RegistrySessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "An admin session; a write needs its CSRF token in `X-CSRFToken` too.",
        }


# --- Parameters and responses --------------------------------------------------------------------


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=RegistryErrorSerializer, description=description)


_SUBJECT = OpenApiParameter(
    "subject",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A subject: an event major's Avro record full name (RecordNameStrategy), or `<topic>-value` "
    "(TopicNameStrategy, read-only) for a topic that holds the records of one major.",
)
_VERSION = OpenApiParameter(
    "version",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A version number (1 to 2^31-1), `latest`, or `-1` (the latest).",
)
_SCHEMA_ID = OpenApiParameter("schema_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="A global schema id.")
_PAGE = [
    OpenApiParameter("offset", OpenApiTypes.INT, description="Items to skip (default 0)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Items at most; negative (the default): all."),
]
_RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    required=True,
    description="Seconds to wait before retrying.",
)
_WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[401],
    required=False,
    description="The Basic challenge, when no credentials were sent.",
)

_BODY = {CONTENT_TYPE: SchemaBodySerializer, "application/json": SchemaBodySerializer}
_LEVEL_BODY = {CONTENT_TYPE: CompatibilityLevelChangeSerializer, "application/json": CompatibilityLevelChangeSerializer}

_BODY_ERRORS = {
    400: _error(
        "The body is not JSON, holds text UTF-8 cannot or a NUL character, or is nested deeper than `MAX_JSON_DEPTH`."
    ),
    413: _error("The body (after decompression) is over `MAX_REQUEST_BYTES`."),
    415: _error("Another content type, or a content encoding other than gzip."),
}
_TOO_MANY = _error(
    "42901: over `RATE_LIMIT_REGISTRY_PER_IP` for this client address, or locked out after failed logins."
)
_WRITE_ERRORS: dict[int, OpenApiResponse] = {
    401: _error("40101: no credentials, or wrong ones."),
    403: _error("40301: the user lacks the registry permission this write needs."),
    429: _error("42901: too many failed logins from this address or for this user."),
}
_SUBJECT_NOT_FOUND = _error("40401: no such subject.")
_VERSION_ERRORS = {
    404: _error("40401: no such subject; 40402: no such version."),
    422: _error("42202: not a valid version."),
}
_SCHEMA_NOT_FOUND = _error("40403: no schema with this id.")
_DELETE_REFUSED = _error("40501: published revisions and levels are immutable here; nothing is ever deleted.")


def _operation(operation_id: str, summary: str, tags: list[str], **kwargs: Any) -> dict[str, Any]:
    return {"operation_id": operation_id, "summary": summary, "tags": tags, **kwargs}


def _write(
    operation_id: str,
    summary: str,
    tags: list[str],
    *,
    needs: str,
    parameters: list[OpenApiParameter],
    request: dict[str, Any],
    responses: dict[int, Any],
) -> dict[str, Any]:
    """A write: ``needs`` says who may; its answers include the body's and the credentials' refusals."""
    return _operation(
        operation_id,
        summary,
        tags,
        description=f"Needs {needs}.",
        parameters=[*parameters, _WWW_AUTHENTICATE, _RETRY_AFTER],
        request=request,
        responses={**_BODY_ERRORS, **_WRITE_ERRORS, **responses},
    )


def _delete(operation_id: str, summary: str, tags: list[str], parameters: list[OpenApiParameter]) -> dict[str, Any]:
    return _operation(
        operation_id,
        summary,
        tags,
        parameters=parameters,
        request=None,
        responses={405: _DELETE_REFUSED, 404: _error("40401: no such subject.")},
    )


SUBJECTS_LIST = _operation(
    "subjects_list",
    "The subjects: every major with at least one revision",
    _TAG_SUBJECTS,
    parameters=[
        OpenApiParameter("subjectPrefix", OpenApiTypes.STR, description="Only subjects that start with it."),
        OpenApiParameter("deleted", OpenApiTypes.BOOL, description="Ignored: nothing is ever deleted."),
        OpenApiParameter("deleted_only", OpenApiTypes.BOOL, description="`true`: an empty list."),
        *_PAGE,
    ],
    responses={200: OpenApiResponse(response=serializers.ListSerializer(child=serializers.CharField()))},
)
SUBJECT_LOOKUP = _operation(
    "subject_lookup",
    "Look a schema up: the version of the subject it is registered as",
    _TAG_SUBJECTS,
    parameters=[_SUBJECT, _RETRY_AFTER],
    request=_BODY,
    responses={
        200: RegisteredSchemaSerializer,
        **_BODY_ERRORS,
        404: _error("40401: no such subject; 40403: the schema is not registered under it."),
        422: _error("42201: not a valid Avro schema, another schema type, or references."),
        429: _TOO_MANY,
    },
)
SUBJECT_DELETE = _delete("subject_delete", "Delete a subject: refused", _TAG_SUBJECTS, [_SUBJECT])
SUBJECT_VERSIONS_LIST = _operation(
    "subject_versions_list",
    "The subject's versions",
    _TAG_SUBJECTS,
    parameters=[_SUBJECT, *_PAGE],
    responses={
        200: OpenApiResponse(response=serializers.ListSerializer(child=serializers.IntegerField())),
        404: _SUBJECT_NOT_FOUND,
    },
)
SUBJECT_VERSION_REGISTER = _write(
    "subject_version_register",
    "Register a schema: its id when already registered, else a new revision when compatible",
    _TAG_SUBJECTS,
    needs="the `registry.add_schemarevision` permission. Subjects are not created here: a subject is an "
    "event major, made in the admin or loaded from `schemas/`",
    parameters=[_SUBJECT],
    request=_BODY,
    responses={
        200: SchemaIdSerializer,
        404: _SUBJECT_NOT_FOUND,
        409: _error("409: incompatible with the subject's earlier versions at its compatibility level."),
        422: _error(
            "42201: not a valid Avro schema, another schema type, references, or not a schema the major can take; "
            "42205: a `<topic>-value` subject, which is read-only."
        ),
    },
)
SUBJECT_VERSION_GET = _operation(
    "subject_version_get",
    "One version of the subject",
    _TAG_SUBJECTS,
    parameters=[_SUBJECT, _VERSION],
    responses={200: RegisteredSchemaSerializer, **_VERSION_ERRORS},
)
SUBJECT_VERSION_DELETE = _delete(
    "subject_version_delete", "Delete a version: refused", _TAG_SUBJECTS, [_SUBJECT, _VERSION]
)
SUBJECT_VERSION_SCHEMA_GET = _operation(
    "subject_version_schema_get",
    "One version's Avro schema, as JSON",
    _TAG_SUBJECTS,
    parameters=[_SUBJECT, _VERSION],
    responses={200: OpenApiResponse(response=OpenApiTypes.ANY, description="The Avro schema."), **_VERSION_ERRORS},
)
SCHEMA_TYPES_LIST = _operation(
    "schema_types_list",
    "The schema types this registry holds: Avro",
    _TAG_SCHEMAS,
    responses={200: OpenApiResponse(response=serializers.ListSerializer(child=serializers.CharField()))},
)
SCHEMA_GET = _operation(
    "schema_get",
    "A schema by its global id (as Kafka records carry it)",
    _TAG_SCHEMAS,
    parameters=[
        _SCHEMA_ID,
        OpenApiParameter("subject", OpenApiTypes.STR, description="Accepted and ignored."),
        OpenApiParameter("format", OpenApiTypes.STR, description="Accepted and ignored."),
    ],
    responses={200: SchemaStringSerializer, 404: _SCHEMA_NOT_FOUND},
)
SCHEMA_RAW_GET = _operation(
    "schema_raw_get",
    "A schema by its global id, as JSON",
    _TAG_SCHEMAS,
    parameters=[_SCHEMA_ID],
    responses={200: OpenApiResponse(response=OpenApiTypes.ANY, description="The Avro schema."), 404: _SCHEMA_NOT_FOUND},
)
SCHEMA_VERSIONS_LIST = _operation(
    "schema_versions_list",
    "The subject versions a schema id is registered as",
    _TAG_SCHEMAS,
    parameters=[_SCHEMA_ID, *_PAGE],
    responses={200: SubjectVersionSerializer(many=True), 404: _SCHEMA_NOT_FOUND},
)
SCHEMA_SUBJECTS_LIST = _operation(
    "schema_subjects_list",
    "The subjects a schema id is registered under",
    _TAG_SCHEMAS,
    parameters=[_SCHEMA_ID, *_PAGE],
    responses={
        200: OpenApiResponse(response=serializers.ListSerializer(child=serializers.CharField())),
        404: _SCHEMA_NOT_FOUND,
    },
)


def _compatibility(operation_id: str, summary: str, parameters: list[OpenApiParameter]) -> dict[str, Any]:
    return _operation(
        operation_id,
        summary,
        _TAG_COMPATIBILITY,
        parameters=[
            *parameters,
            OpenApiParameter("verbose", OpenApiTypes.BOOL, description="`true`: say why not, in `messages`."),
            _RETRY_AFTER,
        ],
        request=_BODY,
        responses={
            200: CompatibilityResultSerializer,
            **_BODY_ERRORS,
            404: _error("40401: no such subject; 40402: no such version."),
            422: _error(
                "42201: not a valid Avro schema, another schema type, or references; 42202: not a valid version."
            ),
            429: _TOO_MANY,
        },
    )


COMPATIBILITY_LATEST = _compatibility(
    "compatibility_check",
    "Whether a schema could be registered: checked as registering checks it",
    [_SUBJECT],
)
COMPATIBILITY_VERSION = _compatibility(
    "compatibility_check_version",
    "Whether a schema is compatible with one version (`latest`: as registering checks it)",
    [_SUBJECT, _VERSION],
)
CONFIG_GET = _operation(
    "config_get",
    "The registry-wide compatibility level: the one new majors start with",
    _TAG_CONFIG,
    responses={200: CompatibilityLevelSerializer},
)
CONFIG_SET = _write(
    "config_set",
    "Set the registry-wide compatibility level",
    _TAG_CONFIG,
    needs="a superuser",
    parameters=[],
    request=_LEVEL_BODY,
    responses={
        200: CompatibilityLevelChangeSerializer,
        422: _error("42203: not a compatibility level."),
    },
)
CONFIG_DELETE = _operation(
    "config_delete",
    "Delete the registry-wide level: refused",
    _TAG_CONFIG,
    request=None,
    responses={405: _DELETE_REFUSED},
)
SUBJECT_CONFIG_GET = _operation(
    "subject_config_get",
    "A subject's compatibility level: its major's",
    _TAG_CONFIG,
    parameters=[_SUBJECT],
    responses={200: CompatibilityLevelSerializer, 404: _SUBJECT_NOT_FOUND},
)
SUBJECT_CONFIG_SET = _write(
    "subject_config_set",
    "Set a subject's compatibility level, which every new revision must then keep",
    _TAG_CONFIG,
    needs="the `registry.change_eventmajor` permission",
    parameters=[_SUBJECT],
    request=_LEVEL_BODY,
    responses={
        200: CompatibilityLevelChangeSerializer,
        404: _SUBJECT_NOT_FOUND,
        422: _error(
            "42203: not a compatibility level, or one the major's revisions do not keep; 42205: a `<topic>-value` "
            "subject, which is read-only."
        ),
    },
)
SUBJECT_CONFIG_DELETE = _delete("subject_config_delete", "Delete a subject's level: refused", _TAG_CONFIG, [_SUBJECT])


# --- drf-spectacular hooks ------------------------------------------------------------------------


def endpoints_schema_registry(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """PREPROCESSING_HOOK: the schema-registry API's operations only (not this document, nor the
    catch-all that answers unknown paths)."""
    return [
        endpoint
        for endpoint in endpoints
        if str(endpoint[0]).startswith(PATH_PREFIX) and getattr(endpoint[3].cls, "documented", False)
    ]


def _link(operation_id: str, description: str, **kwargs: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "description": description, **kwargs}


_SUBJECT_OF_REQUEST = "$request.path.subject"
# operationId → status → the links its answer offers.
LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "subjects_list": {
        "200": {
            "FirstSubjectVersions": _link(
                "subject_versions_list", "The first subject's versions.", parameters={"subject": "$response.body#/0"}
            ),
            "FirstSubjectLevel": _link(
                "subject_config_get", "The first subject's level.", parameters={"subject": "$response.body#/0"}
            ),
        }
    },
    "subject_config_get": {
        "200": {
            "SetLevel": _link(
                "subject_config_set",
                "Set the subject's level to the one it has.",
                parameters={"subject": _SUBJECT_OF_REQUEST},
                requestBody={"compatibility": "$response.body#/compatibilityLevel"},
            ),
        }
    },
    "subject_versions_list": {
        "200": {
            "FirstVersion": _link(
                "subject_version_get",
                "The subject's first version.",
                parameters={"subject": _SUBJECT_OF_REQUEST, "version": "$response.body#/0"},
            ),
        }
    },
    "subject_version_get": {
        "200": {
            "SchemaById": _link(
                "schema_get", "The same schema by its id.", parameters={"schema_id": "$response.body#/id"}
            ),
            "SchemaVersions": _link(
                "schema_versions_list",
                "The subject versions the same schema is registered as.",
                parameters={"schema_id": "$response.body#/id"},
            ),
            "VersionSchema": _link(
                "subject_version_schema_get",
                "The version's schema as JSON.",
                parameters={"subject": "$response.body#/subject", "version": "$response.body#/version"},
            ),
            "LookUp": _link(
                "subject_lookup",
                "Look the same schema up: this version again.",
                parameters={"subject": "$response.body#/subject"},
                requestBody={"schema": "$response.body#/schema"},
            ),
            "CheckCompatibility": _link(
                "compatibility_check_version",
                "Check the same schema against this version: compatible.",
                parameters={"subject": "$response.body#/subject", "version": "$response.body#/version"},
                requestBody={"schema": "$response.body#/schema"},
            ),
            "RegisterAgain": _link(
                "subject_version_register",
                "Register the same schema: the id it already has.",
                parameters={"subject": "$response.body#/subject"},
                requestBody={"schema": "$response.body#/schema"},
            ),
        }
    },
    "subject_lookup": {
        "200": {
            "SchemaById": _link(
                "schema_get", "The found schema by its id.", parameters={"schema_id": "$response.body#/id"}
            ),
        }
    },
    "subject_version_register": {
        "200": {
            "SchemaById": _link("schema_get", "The registered schema.", parameters={"schema_id": "$response.body#/id"}),
            "SchemaVersions": _link(
                "schema_versions_list",
                "The versions it is registered as.",
                parameters={"schema_id": "$response.body#/id"},
            ),
            "SchemaSubjects": _link(
                "schema_subjects_list",
                "The subjects it is registered under.",
                parameters={"schema_id": "$response.body#/id"},
            ),
            "SchemaAsJson": _link(
                "schema_raw_get", "The registered schema as JSON.", parameters={"schema_id": "$response.body#/id"}
            ),
        }
    },
    "schema_versions_list": {
        "200": {
            "FirstVersion": _link(
                "subject_version_get",
                "The first subject version it is registered as.",
                parameters={"subject": "$response.body#/0/subject", "version": "$response.body#/0/version"},
            ),
        }
    },
    "subject_config_set": {
        "200": {
            "Level": _link("subject_config_get", "The level just set.", parameters={"subject": _SUBJECT_OF_REQUEST}),
        }
    },
    "config_set": {"200": {"Level": _link("config_get", "The level just set.")}},
}


def links_add(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: the links of ``LINKS`` on the answers they start from, and the tags."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for status, links in LINKS.get(operation.get("operationId", ""), {}).items():
                operation["responses"][status]["links"] = links
    result["tags"] = [
        {"name": "subjects", "description": "Subjects (event majors) and their versions (revisions)."},
        {"name": "schemas", "description": "Schemas by global id."},
        {"name": "compatibility", "description": "Compatibility checks."},
        {"name": "config", "description": "Compatibility levels."},
    ]
    return result


SETTINGS: dict[str, Any] = {
    "TITLE": DOCUMENT_TITLE,
    "DESCRIPTION": (
        "The Confluent-compatible schema-registry API: enough of Confluent's REST API for its clients and "
        "serdes. A subject is an Avro record's full name (RecordNameStrategy), its versions are an event "
        "major's revisions, a schema id is a revision's global id. Reads are open; writes need a registry "
        "permission. Revisions are immutable: nothing is deleted."
    ),
    "SCHEMA_PATH_PREFIX": r"/schema-registry",
    "PREPROCESSING_HOOKS": ["registry.schema_registry.openapi.endpoints_schema_registry"],
    "POSTPROCESSING_HOOKS": ["registry.schema_registry.openapi.links_add"],
}
