"""Writes to the registry. The admin, the schema-registry API and the catalogue commands all go
through these functions, so every revision passes the same checks (``SchemaRevision.clean``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from registry.avro import InvalidAvroSchema, avro_schema_fingerprint, avro_schema_full_name, avro_schema_text
from registry.catalogue_files import CatalogueFilesError, catalogue_folders, catalogue_json_read
from registry.models import EventMajor, EventType, RegistryConfig, SchemaRevision
from registry.selectors import registry_cache_clear, subject_schema_lookup

_MAJOR_DIR = re.compile(r"^v(?P<major>[1-9][0-9]*)$")
_MAJOR_SUFFIX = re.compile(r"_v(?P<major>[0-9]+)$")

# Status changes an analyst may make; anything else is refused (compare-and-set on the old value).
STATUS_TRANSITIONS: dict[str, set[str]] = {
    EventMajor.Status.DRAFT: {EventMajor.Status.ACTIVE, EventMajor.Status.RETIRED},
    EventMajor.Status.ACTIVE: {EventMajor.Status.DEPRECATED, EventMajor.Status.RETIRED},
    EventMajor.Status.DEPRECATED: {EventMajor.Status.ACTIVE, EventMajor.Status.RETIRED},
    EventMajor.Status.RETIRED: set(),
}


class SchemaRejected(Exception):
    """A revision was refused; ``reasons`` say why, ``incompatible`` tells a compatibility refusal
    (HTTP 409 in the registry API) from an invalid schema (422)."""

    def __init__(self, reasons: list[str], *, incompatible: bool = False) -> None:
        self.reasons = reasons
        self.incompatible = incompatible
        super().__init__("; ".join(reasons))


class RegistryError(Exception):
    """A registry change that is not allowed (a status transition, a duplicate major...)."""


@dataclass(frozen=True)
class RevisionResult:
    revision: SchemaRevision
    created: bool


def _avro_text(avro_schema: str | dict[str, Any]) -> str:
    if isinstance(avro_schema, str):
        try:
            avro_schema = json.loads(avro_schema)
        except ValueError as exc:
            raise SchemaRejected([f"The Avro schema is not JSON: {exc}"]) from exc
    if not isinstance(avro_schema, dict):
        raise SchemaRejected(["The Avro schema must be a record."])
    return avro_schema_text(avro_schema)


def revision_create(
    *,
    major: EventMajor,
    avro_schema: str | dict[str, Any],
    json_schema: dict[str, Any] | None = None,
    created_by: str = "",
) -> RevisionResult:
    """Publish a new revision of ``major``, or return the existing one when the schemas are the
    same. ``json_schema=None`` keeps the latest revision's JSON schema (schema-registry writes)."""
    text = _avro_text(avro_schema)
    try:
        fingerprint = avro_schema_fingerprint(text)
    except InvalidAvroSchema as exc:
        raise SchemaRejected([f"The Avro schema is invalid: {exc}"]) from exc
    with transaction.atomic():
        # Locking the major serialises revision numbers between concurrent writers.
        locked = EventMajor.objects.select_for_update().get(pk=major.pk)
        latest = locked.revisions.order_by("-revision").first()
        if json_schema is None:
            if latest is None:
                raise SchemaRejected(["The first revision of a major needs a JSON schema."])
            json_schema = latest.json_schema
        for existing in locked.revisions.filter(fingerprint=fingerprint).order_by("revision"):
            if existing.json_schema == json_schema:
                return RevisionResult(existing, created=False)
        revision = SchemaRevision(
            major=locked,
            revision=1 if latest is None else latest.revision + 1,
            json_schema=json_schema,
            avro_schema=text,
            fingerprint=fingerprint,
            created_by=created_by,
        )
        try:
            revision.full_clean()
        except ValidationError as exc:
            errors = (
                [e for group in exc.error_dict.values() for e in group]
                if hasattr(exc, "error_dict")
                else exc.error_list
            )
            codes = {error.code for error in errors}
            raise SchemaRejected(list(exc.messages), incompatible=codes == {"incompatible"}) from exc
        revision.save()
        transaction.on_commit(registry_cache_clear)
    return RevisionResult(revision, created=True)


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with every string equal to ``old`` (a record's full name) replaced by ``new``."""
    if isinstance(value, dict):
        return {key: _renamed(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, old, new) for item in value]
    return new if value == old else value


def major_create(
    *,
    event_type: EventType,
    major: int,
    full_name: str,
    json_schema: dict[str, Any],
    avro_schema: str | dict[str, Any],
    created_by: str = "",
    status: str = EventMajor.Status.DRAFT,
    compatibility: str | None = None,
    example: Any = None,
    topic_override: str = "",
) -> EventMajor:
    """A new major with its first revision."""
    with transaction.atomic():
        created = EventMajor(
            event_type=event_type,
            major=major,
            full_name=full_name,
            status=status,
            compatibility=compatibility or registry_config_get().compatibility,
            example=example,
            topic_override=topic_override,
        )
        try:
            created.full_clean()
        except ValidationError as exc:
            raise RegistryError("; ".join(exc.messages)) from exc
        created.save()
        revision_create(major=created, avro_schema=avro_schema, json_schema=json_schema, created_by=created_by)
    return created


def major_start_next(*, major: EventMajor, created_by: str = "") -> EventMajor:
    """A draft major numbered after the type's highest, starting from ``major``'s latest revision
    with the record renamed (``nudged_v1`` → ``nudged_v2``): for a breaking change."""
    latest = major.revisions.order_by("-revision").first()
    if latest is None:
        raise RegistryError(f"{major.full_name} has no revision to start from.")
    number = max(major.event_type.majors.values_list("major", flat=True)) + 1
    match = _MAJOR_SUFFIX.search(major.full_name)
    full_name = _MAJOR_SUFFIX.sub(f"_v{number}", major.full_name) if match else f"{major.full_name}_v{number}"
    avro = latest.avro_schema_dict
    old_name = avro_schema_full_name(avro)
    namespace, _, name = full_name.rpartition(".")
    avro = {**avro, "name": name, "namespace": namespace}
    json_schema = _renamed(latest.json_schema, old_name, full_name)
    return major_create(
        event_type=major.event_type,
        major=number,
        full_name=full_name,
        json_schema=json_schema,
        avro_schema=avro,
        created_by=created_by,
        status=EventMajor.Status.DRAFT,
        compatibility=major.compatibility,
        example=_renamed(major.example, old_name, full_name),
        topic_override=major.topic_override,
    )


def major_status_set(*, major: EventMajor, status: str) -> EventMajor:
    allowed = STATUS_TRANSITIONS.get(major.status, set())
    if status not in allowed:
        raise RegistryError(f"{major.full_name} cannot go from {major.status} to {status}.")
    updated = EventMajor.objects.filter(pk=major.pk, status=major.status).update(status=status)
    if not updated:
        raise RegistryError(f"{major.full_name} was changed by someone else; reload and try again.")
    major.status = status
    transaction.on_commit(registry_cache_clear)
    return major


def major_compatibility_set(*, major: EventMajor, level: str) -> EventMajor:
    if level not in EventMajor.Compatibility.values:
        raise RegistryError(f"Unknown compatibility level {level!r}.")
    major.compatibility = level
    major.save(update_fields=["compatibility"])
    return major


def registry_config_get() -> RegistryConfig:
    config, _ = RegistryConfig.objects.get_or_create(pk=1)
    return config


def registry_compatibility_set(*, level: str) -> RegistryConfig:
    if level not in EventMajor.Compatibility.values:
        raise RegistryError(f"Unknown compatibility level {level!r}.")
    config = registry_config_get()
    config.compatibility = level
    config.save(update_fields=["compatibility"])
    return config


# --- The catalogue folder ------------------------------------------------------------------------

# One error for everything a catalogue folder can get wrong, whether reading or loading it.
CatalogueError = CatalogueFilesError


@dataclass(frozen=True)
class CatalogueEntry:
    """One folder of the catalogue: ``schemas/<namespace as path>/<name>/v<major>/``."""

    folder: Path
    namespace: str
    name: str
    major: int
    meta: dict[str, Any]
    json_schema: dict[str, Any]
    avro_schema: dict[str, Any]
    example: Any


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    revised: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def catalogue_entries(*, root: Path) -> list[CatalogueEntry]:
    """Every event folder under ``root``, in a stable order."""
    entries = []
    for folder in catalogue_folders(root=root):
        match = _MAJOR_DIR.match(folder.name)
        if match is None:
            raise CatalogueError(f"{folder}: the folder of a schema must be named v<major>")
        type_parts = folder.parent.relative_to(root).parts
        if len(type_parts) < 2:
            raise CatalogueError(f"{folder}: expected schemas/<namespace>/<name>/v<major>/")
        example_path = folder / "example.json"
        entries.append(
            CatalogueEntry(
                folder=folder,
                namespace=".".join(type_parts[:-1]),
                name=type_parts[-1],
                major=int(match["major"]),
                meta=catalogue_json_read(folder / "event.json"),
                json_schema=catalogue_json_read(folder / "schema.json"),
                avro_schema=catalogue_json_read(folder / "avro.avsc"),
                example=catalogue_json_read(example_path) if example_path.exists() else None,
            )
        )
    return entries


def catalogue_load(
    *,
    root: Path,
    created_by: str = "load_schemas",
    progress: Callable[[list[CatalogueEntry]], Iterable[CatalogueEntry]] | None = None,
) -> LoadReport:
    """Load a catalogue folder: new types and majors are created, changed schemas become new
    revisions when compatible, unchanged ones change nothing. Refusals name every folder and
    reason; the folders that load are kept."""
    report = LoadReport()
    refusals: list[str] = []
    breaking = False
    entries = catalogue_entries(root=root)
    for entry in progress(entries) if progress else entries:
        try:
            outcome = _entry_load(entry=entry, created_by=created_by)
        except (SchemaRejected, RegistryError) as exc:
            reasons = exc.reasons if isinstance(exc, SchemaRejected) else [str(exc)]
            breaking = breaking or (isinstance(exc, SchemaRejected) and exc.incompatible)
            refusals.append(f"{entry.folder}:\n  " + "\n  ".join(reasons))
            continue
        getattr(report, outcome).append(avro_schema_full_name(entry.avro_schema))
    registry_cache_clear()
    if refusals:
        hint = " (a breaking change needs a new major)" if breaking else ""
        raise CatalogueError(f"refused{hint}:\n" + "\n".join(refusals))
    return report


def _entry_load(*, entry: CatalogueEntry, created_by: str) -> str:
    meta = entry.meta
    full_name = avro_schema_full_name(entry.avro_schema)
    with transaction.atomic():
        # The type's default topic is its first major's; a major elsewhere keeps its own.
        event_type, _ = EventType.objects.update_or_create(
            namespace=entry.namespace,
            name=entry.name,
            defaults={"description": meta.get("description", ""), "owner": meta.get("owner", "")},
            create_defaults={
                "topic": meta["topic"],
                "description": meta.get("description", ""),
                "owner": meta.get("owner", ""),
            },
        )
        topic_override = "" if meta["topic"] == event_type.topic else meta["topic"]
        major = EventMajor.objects.filter(event_type=event_type, major=entry.major).first()
        if major is None:
            major_create(
                event_type=event_type,
                major=entry.major,
                full_name=full_name,
                json_schema=entry.json_schema,
                avro_schema=entry.avro_schema,
                created_by=created_by,
                status=meta.get("status", EventMajor.Status.ACTIVE),
                compatibility=meta.get("compatibility"),
                example=entry.example,
                topic_override=topic_override,
            )
            return "created"
        if major.full_name != full_name:
            raise RegistryError(f"record {full_name} does not match major {major.full_name}")
        if (major.example, major.topic_override) != (entry.example, topic_override):
            major.example, major.topic_override = entry.example, topic_override
            major.save(update_fields=["example", "topic_override"])
        result = revision_create(
            major=major, avro_schema=entry.avro_schema, json_schema=entry.json_schema, created_by=created_by
        )
    return "revised" if result.created else "unchanged"


def catalogue_export(*, root: Path) -> list[Path]:
    """Write every major's latest revision back to ``root`` as catalogue folders; returns the
    folders written. An existing ``event.json``'s generator section is kept."""
    written = []
    majors = EventMajor.objects.select_related("event_type").order_by("full_name")
    for major in majors:
        latest = major.revisions.order_by("-revision").first()
        if latest is None:
            continue
        event_type = major.event_type
        folder = root.joinpath(*event_type.namespace.split("."), event_type.name, f"v{major.major}")
        folder.mkdir(parents=True, exist_ok=True)
        old_meta = catalogue_json_read(folder / "event.json") if (folder / "event.json").exists() else {}
        meta = {
            "topic": major.topic_override or event_type.topic,
            "description": event_type.description,
            "owner": event_type.owner,
            "status": major.status,
            "compatibility": major.compatibility,
            "avro": old_meta.get("avro", {"handwritten": True}),
        }
        files = {
            "event.json": meta,
            "schema.json": latest.json_schema,
            "avro.avsc": latest.avro_schema_dict,
        }
        if major.example is not None:
            files["example.json"] = major.example
        for name, content in files.items():
            (folder / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(folder)
    return written


# --- The Confluent-compatible schema-registry API -------------------------------------------------


def subject_schema_register(*, major: EventMajor, avro_schema: str, created_by: str = "") -> RevisionResult:
    """Register ``avro_schema`` under ``major``'s subject as Confluent's registry does: a schema the
    subject already has (same canonical form) answers that revision, even an older one, without a
    new version; a new one becomes the next revision, keeping the latest JSON schema, when the
    major's compatibility level allows it (else ``SchemaRejected`` with ``incompatible``)."""
    text = _avro_text(avro_schema)
    try:
        fingerprint = avro_schema_fingerprint(text)
    except InvalidAvroSchema as exc:
        raise SchemaRejected([f"The Avro schema is invalid: {exc}"]) from exc
    existing = subject_schema_lookup(subject=major.full_name, fingerprint=fingerprint)
    if existing is not None:
        return RevisionResult(existing, created=False)
    return revision_create(major=major, avro_schema=text, json_schema=None, created_by=created_by)
