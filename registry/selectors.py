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

import jsonschema_rs
from django.conf import settings

from registry.models import EventMajor, SchemaRevision, kafka_topic_name


@dataclass(frozen=True)
class EventVersion:
    """What the edge needs to accept one event type: the latest revision of an active major."""

    full_name: str
    schema_id: int
    topic: str
    validator: Any
    known_fields: frozenset[str]
    record_fields: tuple[str, ...]


@lru_cache(maxsize=1024)
def _event_version_compile(schema_id: int) -> EventVersion:
    revision = SchemaRevision.objects.select_related("major__event_type").get(pk=schema_id)
    json_schema = revision.json_schema
    return EventVersion(
        full_name=revision.major.full_name,
        schema_id=revision.pk,
        topic=revision.major.topic,
        validator=jsonschema_rs.validator_for(json_schema, validate_formats=True),
        known_fields=frozenset(json_schema.get("properties", {})),
        record_fields=tuple(field["name"] for field in revision.avro_schema_dict["fields"]),
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
    topics = EventMajor.objects.filter(status=EventMajor.Status.ACTIVE).values_list("event_type__topic", flat=True)
    return sorted({kafka_topic_name(topic) for topic in topics})


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
