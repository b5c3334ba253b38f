"""Reads of the registry. The ingestion path reads through a compiled, per-process snapshot.

The snapshot maps each active event type to its latest revision with a compiled JSON-schema
validator. It is rebuilt at most every ``REGISTRY_CACHE_SECONDS`` (one query), and validators are
compiled once per revision: revisions are immutable, so a compiled one never goes stale.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import fastavro
import jsonschema_rs
from django.conf import settings

from registry.avro import InvalidAvroSchema, avro_schema_fingerprint
from registry.conform import Conformer, conformer
from registry.models import EventMajor, SchemaRevision
from registry.validation import avro_schema_problems, compatibility_reasons


@dataclass(frozen=True)
class EventVersion:
    """What the edge needs to accept one event type: the latest revision of an active major."""

    full_name: str
    schema_id: int
    topic: str
    validator: Any
    known_fields: frozenset[str]
    record_fields: tuple[str, ...]
    # Conforms a record to the Avro schema (registry/conform.py); None when no record needs it.
    conform: Conformer | None
    avro_schema: dict[str, Any]


@lru_cache(maxsize=1024)
def _event_version_compile(schema_id: int) -> EventVersion:
    revision = SchemaRevision.objects.select_related("major__event_type").get(pk=schema_id)
    json_schema = revision.json_schema
    avro_schema = revision.avro_schema_dict
    return EventVersion(
        full_name=revision.major.full_name,
        schema_id=revision.pk,
        topic=revision.major.topic,
        validator=jsonschema_rs.validator_for(json_schema, validate_formats=True),
        known_fields=frozenset(json_schema.get("properties", {})),
        record_fields=tuple(field["name"] for field in avro_schema["fields"]),
        conform=conformer(fastavro.parse_schema(avro_schema)),
        avro_schema=avro_schema,
    )


class _Snapshot:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._latest: dict[str, int] = {}

    def latest_schema_ids(self) -> dict[str, int]:
        now = time.monotonic()
        if now - self._loaded_at > settings.REGISTRY_CACHE_SECONDS:
            with self._lock:
                if now - self._loaded_at > settings.REGISTRY_CACHE_SECONDS:
                    self._latest = _latest_active_schema_ids()
                    self._loaded_at = time.monotonic()
        return self._latest

    def clear(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")


def _latest_active_schema_ids() -> dict[str, int]:
    latest: dict[str, int] = {}
    rows = (
        SchemaRevision.objects.filter(major__status=EventMajor.Status.ACTIVE)
        .order_by("major__full_name", "revision")
        .values_list("major__full_name", "pk")
    )
    for full_name, schema_id in rows:
        latest[full_name] = schema_id
    return latest


_snapshot = _Snapshot()


def event_version_get(*, full_name: str) -> EventVersion | None:
    """The active version clients may send as ``type == full_name``, or None."""
    schema_id = _snapshot.latest_schema_ids().get(full_name)
    return None if schema_id is None else _event_version_compile(schema_id)


@dataclass(frozen=True)
class ActiveExample:
    """An active major's example payload and the JSON schema of its latest revision."""

    full_name: str
    example: dict[str, Any]
    json_schema: dict[str, Any]


def active_examples() -> list[ActiveExample]:
    """Every active major that has an example (an object) and a revision, by full name."""
    latest = _latest_active_schema_ids()
    revisions = SchemaRevision.objects.filter(pk__in=latest.values()).select_related("major")
    return sorted(
        (
            ActiveExample(full_name=r.major.full_name, example=r.major.example, json_schema=r.json_schema)
            for r in revisions
            if isinstance(r.major.example, dict)
        ),
        key=lambda example: example.full_name,
    )


def registry_cache_clear() -> None:
    """Forget the snapshot (tests, and after this process changed the registry)."""
    _snapshot.clear()
    _event_version_compile.cache_clear()


def schema_revision_get(*, schema_id: int) -> SchemaRevision | None:
    return SchemaRevision.objects.select_related("major__event_type").filter(pk=schema_id).first()


def subject_list() -> list[str]:
    """Subjects (record full names) that have at least one revision."""
    return list(
        EventMajor.objects.filter(revisions__isnull=False)
        .distinct()
        .order_by("full_name")
        .values_list("full_name", flat=True)
    )


def topic_list_active() -> list[str]:
    """Topics of every active major, each once."""
    majors = EventMajor.objects.filter(status=EventMajor.Status.ACTIVE).select_related("event_type")
    return sorted({major.topic for major in majors})


def major_get(*, full_name: str) -> EventMajor | None:
    return EventMajor.objects.select_related("event_type").filter(full_name=full_name).first()


def subject_versions(*, subject: str) -> list[int] | None:
    """The versions (revision numbers) of a subject, or None when there is no such subject."""
    versions = list(
        SchemaRevision.objects.filter(major__full_name=subject).order_by("revision").values_list("revision", flat=True)
    )
    return versions or None


def subject_revision_get(*, subject: str, version: int | None) -> SchemaRevision | None:
    """Revision ``version`` of ``subject``, or its latest when ``version`` is None."""
    revisions = SchemaRevision.objects.select_related("major__event_type").filter(major__full_name=subject)
    if version is None:
        return revisions.order_by("-revision").first()
    return revisions.filter(revision=version).first()


def subject_schema_lookup(*, subject: str, fingerprint: str) -> SchemaRevision | None:
    """The earliest revision of ``subject`` whose Avro schema has this canonical fingerprint."""
    return (
        SchemaRevision.objects.select_related("major")
        .filter(major__full_name=subject, fingerprint=fingerprint)
        .order_by("revision")
        .first()
    )


def schema_subject_versions(*, schema_id: int) -> list[tuple[str, int]]:
    """The (subject, version) pairs a global schema id is registered as."""
    return list(SchemaRevision.objects.filter(pk=schema_id).values_list("major__full_name", "revision"))


# --- The Confluent-compatible schema-registry API -------------------------------------------------


def subject_list_filtered(*, prefix: str = "") -> list[str]:
    """Subjects that start with ``prefix``: record full names with at least one revision, and the
    ``<topic>-value`` subject of each topic that holds exactly one of them (``topic_subject_majors``)."""
    names = list(
        EventMajor.objects.filter(revisions__isnull=False, full_name__startswith=prefix)
        .distinct()
        .order_by("full_name")
        .values_list("full_name", flat=True)
    )
    topics = [subject for subject in _topic_subjects() if subject.startswith(prefix)]
    return sorted([*names, *topics])


# Confluent's TopicNameStrategy names a topic's value schema ``<topic>-value``. A record full name
# never holds a '-', so the two kinds of subject cannot be confused.
TOPIC_SUBJECT_SUFFIX = "-value"


def _majors_with_revisions() -> Any:
    return EventMajor.objects.filter(revisions__isnull=False).distinct().select_related("event_type")


def _topic_subjects() -> list[str]:
    """The ``<topic>-value`` subject of every topic that holds the records of exactly one major."""
    majors_per_topic: dict[str, int] = {}
    for major in _majors_with_revisions():
        majors_per_topic[major.topic] = majors_per_topic.get(major.topic, 0) + 1
    return [f"{topic}{TOPIC_SUBJECT_SUFFIX}" for topic, count in majors_per_topic.items() if count == 1]


def topic_subject_majors(*, subject: str) -> list[EventMajor] | None:
    """For a TopicNameStrategy subject ``<topic>-value``, the majors (with at least one revision)
    whose records go to ``<topic>``, by full name; None when ``subject`` is not of that form."""
    if not subject.endswith(TOPIC_SUBJECT_SUFFIX):
        return None
    topic = subject.removesuffix(TOPIC_SUBJECT_SUFFIX)
    return sorted(
        (major for major in _majors_with_revisions() if major.topic == topic), key=lambda major: major.full_name
    )


def subject_schema_find(*, subject: str, avro_schema: str) -> SchemaRevision | None:
    """The earliest revision of ``subject`` with this Avro schema, compared by canonical form (so
    whitespace, ``doc`` and attribute order do not matter). Raises ``InvalidAvroSchema``."""
    return subject_schema_lookup(subject=subject, fingerprint=avro_schema_fingerprint(avro_schema))


def subject_compatibility_reasons(
    *, major: EventMajor, avro_schema: str, version: int | None = None
) -> list[str] | None:
    """Why ``avro_schema`` could not become ``major``'s next revision: with ``version`` None as
    registering checks it (the major's level against its revisions), else against revision
    ``version`` alone. None when the major has no revision ``version``. Raises
    ``InvalidAvroSchema`` when the schema is one this major could never hold (not a valid Avro
    record named as the major), which registering refuses as invalid rather than incompatible."""
    problems = avro_schema_problems(avro_schema, full_name=major.full_name)
    if problems:
        raise InvalidAvroSchema("; ".join(problems))
    if version is not None and not major.revisions.filter(revision=version).exists():
        return None
    return compatibility_reasons(major=major, avro_schema=avro_schema, version=version)
