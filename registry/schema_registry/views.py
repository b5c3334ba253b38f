"""The Confluent-compatible schema-registry API, enough for standard clients to work unchanged.

Subjects are record full names (RecordNameStrategy); a subject's versions are its major's
revisions and a schema id is a revision's global id. Subjects are not created here: event types
and majors come from the admin or ``schemas/``; registering adds revisions to an existing major.
Published revisions are immutable, so there are no deletes. See ``auth`` for who may write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.conf import settings
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiJsonRenderer2
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from eventcapture.ratelimits import ClientIpWindowThrottle
from registry.avro import InvalidAvroSchema, schema_text_load
from registry.models import EventMajor, SchemaRevision
from registry.schema_registry import auth, errors, media
from registry.schema_registry import openapi as docs
from registry.selectors import (
    TOPIC_SUBJECT_SUFFIX,
    major_get,
    schema_revision_get,
    schema_subject_versions,
    subject_compatibility_reasons,
    subject_list_filtered,
    subject_revision_get,
    subject_schema_find,
    subject_versions,
    topic_subject_majors,
)
from registry.services import (
    RegistryError,
    SchemaRejected,
    major_compatibility_set,
    registry_compatibility_set,
    registry_config_get,
    subject_schema_register,
)

_MAX_ID = 2**31 - 1
# Characters of a subject (a major's full name) at most: EventMajor.full_name's column.
_SUBJECT_MAX = EventMajor._meta.get_field("full_name").max_length or 255


class RegistryView(APIView):
    authentication_classes = auth.AUTHENTICATION_CLASSES
    permission_classes = (auth.StaffWrites,)
    parser_classes = media.PARSER_CLASSES
    renderer_classes = (media.SchemaRegistryRenderer,)
    content_negotiation_class = media.SchemaRegistryNegotiation
    # Only the look-up and the compatibility check are limited (RegistryClientIpThrottle).
    throttle_classes: Sequence[type[BaseThrottle]] = ()
    # Methods that change the registry, and the permission each needs; the others are open.
    write_permissions: ClassVar[dict[str, str]] = {}
    # In the API's OpenAPI document (``openapi``).
    documented: ClassVar[bool] = True

    def get_exception_handler(self) -> Any:
        return errors.exception_handler

    def perform_authentication(self, request: Request) -> None:
        """Lazy: only ``StaffWrites`` looks at the credentials, and only for writes."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Text no subject can be, refused before it reaches a query: PostgreSQL refuses NUL
        # characters outright (a 500), and no major's name is longer than its column. Of the
        # query parameters only ``subjectPrefix`` reaches a query (``SubjectListView``).
        subject = kwargs.get("subject")
        if subject is not None and ("\x00" in subject or len(subject) > _SUBJECT_MAX):
            raise errors.SubjectNotFound(f"Subject '{subject}' not found.")
        super().initial(request, *args, **kwargs)


# --- Parsing -------------------------------------------------------------------------------------


def _version(value: str) -> int | None:
    """A version path segment: a number, or None for ``latest`` (or Confluent's ``-1``)."""
    if value in ("latest", "-1"):
        return None
    if value.isascii() and value.isdigit() and 1 <= int(value) <= _MAX_ID:
        return int(value)
    raise errors.InvalidVersion(
        f"The specified version '{value}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"'
    )


def _major(subject: str) -> EventMajor:
    """The major ``subject`` names: its record full name, or ``<topic>-value`` for a topic that
    holds one major's records (TopicNameStrategy)."""
    majors = topic_subject_majors(subject=subject)
    if majors is None:
        major = major_get(full_name=subject)
        if major is None:
            raise errors.SubjectNotFound(f"Subject '{subject}' not found.")
        return major
    if len(majors) == 1:
        return majors[0]
    topic = subject.removesuffix(TOPIC_SUBJECT_SUFFIX)
    if not majors:
        raise errors.SubjectNotFound(f"Subject '{subject}' not found: no event major's records go to topic '{topic}'.")
    names = ", ".join(major.full_name for major in majors)
    raise errors.SubjectNotFound(
        f"Subject '{subject}' not found: topic '{topic}' holds the records of {len(majors)} majors ({names}), "
        "so no one schema is its value schema; use their record-name subjects (RecordNameStrategy)."
    )


def _record_subject(subject: str) -> str:
    """The record full name ``subject`` stands for (itself, unless a ``<topic>-value`` subject)."""
    return _major(subject).full_name if subject.endswith(TOPIC_SUBJECT_SUFFIX) else subject


def _writable(subject: str) -> None:
    """Refuses a write to a topic's value subject (one whose topic some major's records go to)."""
    if topic_subject_majors(subject=subject):
        raise errors.ReadOnlySubject(
            f"Subject '{subject}' is read-only: a topic's value subject stands for the record-name subject "
            "of its one major; register and set levels there."
        )


def _avro_schema(data: Any) -> str:
    """The schema text of a register, lookup or compatibility body ``{"schema", "schemaType"?}``."""
    if not isinstance(data, dict) or not isinstance(data.get("schema"), str) or not data["schema"].strip():
        raise errors.InvalidSchema('The request body must be a JSON object with a non-empty "schema" string.')
    schema_type = data.get("schemaType") or "AVRO"
    if str(schema_type).upper() != "AVRO":
        raise errors.InvalidSchema(f"Schema type {schema_type} is not supported: this registry holds Avro schemas.")
    if data.get("references"):
        raise errors.InvalidSchema("Schema references are not supported: send the schema with its types inline.")
    schema: str = data["schema"]
    # Read within limits before anything parses, fingerprints or compares it.
    try:
        schema_text_load(
            schema,
            max_chars=settings.MAX_SCHEMA_CHARS,
            max_depth=settings.MAX_JSON_DEPTH,
            max_fields=settings.MAX_SCHEMA_FIELDS,
        )
    except InvalidAvroSchema as exc:
        raise errors.InvalidSchema(f"Invalid schema: {exc}") from exc
    return schema


def _flag(request: Request, name: str) -> bool:
    # Confluent's Python client formats booleans as True/False, others as true/false.
    return str(request.query_params.get(name, "")).lower() == "true"


def _level(data: Any) -> str:
    level = data.get("compatibility") if isinstance(data, dict) else None
    if not isinstance(level, str) or level.upper() not in EventMajor.Compatibility.values:
        raise errors.InvalidCompatibilityLevel()
    return level.upper()


def _paged(items: Sequence[Any], request: Request) -> list[Any]:
    """Confluent's ``offset``/``limit`` query parameters (a negative limit means all)."""
    try:
        offset = max(int(request.query_params.get("offset", 0)), 0)
        limit = int(request.query_params.get("limit", -1))
    except ValueError:
        offset, limit = 0, -1
    return list(items[offset:] if limit < 0 else items[offset : offset + limit])


def _revision_by_id(schema_id: int) -> SchemaRevision:
    revision = schema_revision_get(schema_id=schema_id) if schema_id <= _MAX_ID else None
    if revision is None:
        raise errors.SchemaNotFound(f"Schema {schema_id} not found")
    return revision


def _registered(revision: SchemaRevision, *, subject: str) -> dict[str, Any]:
    """A version as Confluent answers it, under the subject it was asked for."""
    # Confluent omits schemaType for AVRO, the default.
    return {
        "subject": subject,
        "version": revision.revision,
        "id": revision.pk,
        "schema": revision.avro_schema,
    }


# --- Subjects ------------------------------------------------------------------------------------


class SubjectListView(RegistryView):
    @extend_schema(**docs.SUBJECTS_LIST)
    def get(self, request: Request) -> Response:
        prefix = request.query_params.get("subjectPrefix", "")
        if _flag(request, "deleted_only") or "\x00" in prefix:
            return Response([])  # nothing is ever deleted; no subject holds a NUL character
        return Response(_paged(subject_list_filtered(prefix=prefix), request))


class RegistryClientIpThrottle(ClientIpWindowThrottle):
    """``RATE_LIMIT_REGISTRY_PER_IP``: the open endpoints that parse and compare a schema."""

    scope = "registry-ip"
    rate_setting = "RATE_LIMIT_REGISTRY_PER_IP"
    path_prefix = "/schema-registry/"


class SubjectView(RegistryView):
    throttle_classes = (RegistryClientIpThrottle,)

    @extend_schema(**docs.SUBJECT_LOOKUP)
    def post(self, request: Request, subject: str) -> Response:
        """Look a schema up: the version of ``subject`` it is registered as."""
        major = _major(subject)
        schema = _avro_schema(request.data)
        try:
            revision = subject_schema_find(subject=major.full_name, avro_schema=schema)
        except InvalidAvroSchema as exc:
            raise errors.InvalidSchema(f"Invalid schema: {exc}") from exc
        if revision is None:
            raise errors.SchemaNotFound()
        return Response(_registered(revision, subject=subject))

    @extend_schema(**docs.SUBJECT_DELETE)
    def delete(self, request: Request, subject: str) -> Response:
        raise errors.DeleteNotSupported()


class SubjectVersionsView(RegistryView):
    write_permissions: ClassVar[dict[str, str]] = {"POST": "registry.add_schemarevision"}

    @extend_schema(**docs.SUBJECT_VERSIONS_LIST)
    def get(self, request: Request, subject: str) -> Response:
        versions = subject_versions(subject=_record_subject(subject))
        if versions is None:
            raise errors.SubjectNotFound(f"Subject '{subject}' not found.")
        return Response(_paged(versions, request))

    @extend_schema(**docs.SUBJECT_VERSION_REGISTER)
    def post(self, request: Request, subject: str) -> Response:
        """Register a schema: the id it already has, or a new revision when compatible."""
        _writable(subject)
        major = major_get(full_name=subject)
        if major is None:
            raise errors.SubjectNotFound(
                f"Subject '{subject}' not found. This registry uses RecordNameStrategy (a subject is an "
                "Avro record's full name) and does not create subjects: event types are added in schemas/ "
                "and loaded with load_schemas, new majors start in the admin; registering adds revisions to an "
                "existing major."
            )
        schema = _avro_schema(request.data)
        try:
            result = subject_schema_register(major=major, avro_schema=schema, created_by=auth.writer_name(request))
        except SchemaRejected as exc:
            if exc.incompatible:
                raise errors.IncompatibleSchema(
                    f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
                    f"details: [{'; '.join(exc.reasons)}]"
                ) from exc
            raise errors.InvalidSchema(f"Invalid schema: {'; '.join(exc.reasons)}") from exc
        return Response({"id": result.revision.pk})


class SubjectVersionView(RegistryView):
    @extend_schema(**docs.SUBJECT_VERSION_GET)
    def get(self, request: Request, subject: str, version: str) -> Response:
        return Response(_registered(_subject_revision(subject, version), subject=subject))

    @extend_schema(**docs.SUBJECT_VERSION_DELETE)
    def delete(self, request: Request, subject: str, version: str) -> Response:
        raise errors.DeleteNotSupported()


class SubjectVersionSchemaView(RegistryView):
    @extend_schema(**docs.SUBJECT_VERSION_SCHEMA_GET)
    def get(self, request: Request, subject: str, version: str) -> Response:
        return Response(_subject_revision(subject, version).avro_schema_dict)


def _subject_revision(subject: str, version: str) -> SchemaRevision:
    number = _version(version)
    revision = subject_revision_get(subject=_record_subject(subject), version=number)
    if revision is None:
        _major(subject)
        raise errors.VersionNotFound(f"Version {version} not found.")
    return revision


# --- Schemas by id -------------------------------------------------------------------------------


class SchemaView(RegistryView):
    @extend_schema(**docs.SCHEMA_GET)
    def get(self, request: Request, schema_id: int) -> Response:
        # ?subject= and ?format= (clients add them) change nothing for Avro without references.
        return Response({"schema": _revision_by_id(schema_id).avro_schema})


class SchemaRawView(RegistryView):
    @extend_schema(**docs.SCHEMA_RAW_GET)
    def get(self, request: Request, schema_id: int) -> Response:
        return Response(_revision_by_id(schema_id).avro_schema_dict)


class SchemaVersionsView(RegistryView):
    @extend_schema(**docs.SCHEMA_VERSIONS_LIST)
    def get(self, request: Request, schema_id: int) -> Response:
        pairs = schema_subject_versions(schema_id=schema_id) if schema_id <= _MAX_ID else []
        if not pairs:
            raise errors.SchemaNotFound(f"Schema {schema_id} not found")
        return Response(_paged([{"subject": subject, "version": version} for subject, version in pairs], request))


class SchemaSubjectsView(RegistryView):
    @extend_schema(**docs.SCHEMA_SUBJECTS_LIST)
    def get(self, request: Request, schema_id: int) -> Response:
        pairs = schema_subject_versions(schema_id=schema_id) if schema_id <= _MAX_ID else []
        if not pairs:
            raise errors.SchemaNotFound(f"Schema {schema_id} not found")
        return Response(_paged(sorted({subject for subject, _ in pairs}), request))


class SchemaTypesView(RegistryView):
    @extend_schema(**docs.SCHEMA_TYPES_LIST)
    def get(self, request: Request) -> Response:
        return Response(["AVRO"])


# --- Compatibility -------------------------------------------------------------------------------


class CompatibilityView(RegistryView):
    throttle_classes = (RegistryClientIpThrottle,)

    @extend_schema(**docs.COMPATIBILITY_LATEST)
    def post(self, request: Request, subject: str, version: str = "latest") -> Response:
        """Whether a schema could be registered: against ``latest`` (or all versions) as
        registering checks it, against a numbered version alone otherwise."""
        number = _version(version)
        major = _major(subject)
        schema = _avro_schema(request.data)
        try:
            reasons = subject_compatibility_reasons(major=major, avro_schema=schema, version=number)
        except InvalidAvroSchema as exc:
            raise errors.InvalidSchema(f"Invalid schema: {exc}") from exc
        if reasons is None:
            raise errors.VersionNotFound(f"Version {version} not found.")
        body: dict[str, Any] = {"is_compatible": not reasons}
        if _flag(request, "verbose"):
            body["messages"] = reasons
        return Response(body)


class CompatibilityVersionView(CompatibilityView):
    """The same check against a version the path names (its own view: its own operation id)."""

    @extend_schema(**docs.COMPATIBILITY_VERSION)
    def post(self, request: Request, subject: str, version: str = "latest") -> Response:
        return super().post(request, subject, version)


# --- Compatibility levels ------------------------------------------------------------------------


class ConfigView(RegistryView):
    """The registry-wide level: the one new majors start with."""

    write_permissions: ClassVar[dict[str, str]] = {"PUT": auth.SUPERUSER}

    @extend_schema(**docs.CONFIG_GET)
    def get(self, request: Request) -> Response:
        return Response({"compatibilityLevel": registry_config_get().compatibility})

    @extend_schema(**docs.CONFIG_SET)
    def put(self, request: Request) -> Response:
        level = _level(request.data)
        try:
            config = registry_compatibility_set(level=level)
        except RegistryError as exc:
            raise errors.InvalidCompatibilityLevel() from exc
        return Response({"compatibility": config.compatibility})

    @extend_schema(**docs.CONFIG_DELETE)
    def delete(self, request: Request) -> Response:
        raise errors.DeleteNotSupported("Compatibility levels cannot be deleted; set one with PUT instead")


class SubjectConfigView(RegistryView):
    """A subject's level: its major's, which every new revision must keep."""

    write_permissions: ClassVar[dict[str, str]] = {"PUT": "registry.change_eventmajor"}

    @extend_schema(**docs.SUBJECT_CONFIG_GET)
    def get(self, request: Request, subject: str) -> Response:
        return Response({"compatibilityLevel": _major(subject).compatibility})

    @extend_schema(**docs.SUBJECT_CONFIG_SET)
    def put(self, request: Request, subject: str) -> Response:
        _writable(subject)
        major = _major(subject)
        level = _level(request.data)
        try:
            major = major_compatibility_set(major=major, level=level)
        except RegistryError as exc:
            raise errors.InvalidCompatibilityLevel() from exc
        return Response({"compatibility": major.compatibility})

    @extend_schema(**docs.SUBJECT_CONFIG_DELETE)
    def delete(self, request: Request, subject: str) -> Response:
        raise errors.DeleteNotSupported("Compatibility levels cannot be deleted; set one with PUT instead")


class UnknownEndpointView(RegistryView):
    """Anything else under the API (``/mode``, ``/contexts``, ``/associations/...``): a Confluent
    404, which clients treat as "not there" (the associated-name strategy then falls back)."""

    documented = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        raise errors.UnknownEndpoint()


class RegistryOpenApiView(SpectacularJSONAPIView):
    """``GET /schema-registry/openapi.json``: this API's OpenAPI document (``openapi``), generated
    per request (about 15 ms), so limited as the look-ups are."""

    custom_settings = docs.SETTINGS
    throttle_classes = (RegistryClientIpThrottle,)
    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer]

    def get_exception_handler(self) -> Any:
        return errors.exception_handler
