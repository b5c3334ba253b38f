"""Writes to the registry: loading the shipped catalogue from a ``schemas/`` folder."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from registry.avro import avro_schema_fingerprint, avro_schema_full_name, avro_schema_text
from registry.models import EventMajor, EventType, SchemaRevision
from registry.selectors import registry_cache_clear

_MAJOR_DIR = re.compile(r"^v(?P<major>[1-9][0-9]*)$")


class CatalogueError(ValueError):
    pass


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


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    revised: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{path}: {exc}") from exc


def catalogue_entries(*, root: Path) -> list[CatalogueEntry]:
    """Every event folder under ``root``, in a stable order."""
    entries = []
    for schema_path in sorted(root.rglob("schema.json")):
        folder = schema_path.parent
        match = _MAJOR_DIR.match(folder.name)
        if match is None:
            raise CatalogueError(f"{folder}: the folder of a schema must be named v<major>")
        type_parts = folder.parent.relative_to(root).parts
        if len(type_parts) < 2:
            raise CatalogueError(f"{folder}: expected schemas/<namespace>/<name>/v<major>/")
        entries.append(
            CatalogueEntry(
                folder=folder,
                namespace=".".join(type_parts[:-1]),
                name=type_parts[-1],
                major=int(match["major"]),
                meta=_read_json(folder / "event.json"),
                json_schema=_read_json(schema_path),
                avro_schema=_read_json(folder / "avro.avsc"),
            )
        )
    return entries


def catalogue_load(
    *,
    root: Path,
    created_by: str = "load_schemas",
    progress: Callable[[Iterable[CatalogueEntry]], Iterable[CatalogueEntry]] | None = None,
) -> LoadReport:
    """Load a catalogue folder: new types and majors are created, changed schemas become new
    revisions, unchanged ones change nothing."""
    report = LoadReport()
    entries = catalogue_entries(root=root)
    for entry in progress(entries) if progress else entries:
        outcome = _entry_load(entry=entry, created_by=created_by)
        getattr(report, outcome).append(avro_schema_full_name(entry.avro_schema))
    registry_cache_clear()
    return report


@transaction.atomic
def _entry_load(*, entry: CatalogueEntry, created_by: str) -> str:
    meta = entry.meta
    event_type, _ = EventType.objects.update_or_create(
        namespace=entry.namespace,
        name=entry.name,
        defaults={
            "topic": meta["topic"],
            "description": meta.get("description", ""),
            "owner": meta.get("owner", ""),
        },
    )
    full_name = avro_schema_full_name(entry.avro_schema)
    major, major_created = EventMajor.objects.get_or_create(
        event_type=event_type,
        major=entry.major,
        defaults={
            "full_name": full_name,
            "status": meta.get("status", EventMajor.Status.ACTIVE),
            "compatibility": meta.get("compatibility", EventMajor.Compatibility.FULL_TRANSITIVE),
        },
    )
    if major.full_name != full_name:
        raise CatalogueError(f"{entry.folder}: record {full_name} does not match major {major.full_name}")
    fingerprint = avro_schema_fingerprint(entry.avro_schema)
    latest = major.revisions.order_by("-revision").first()
    if latest is not None and latest.fingerprint == fingerprint and latest.json_schema == entry.json_schema:
        return "unchanged"
    SchemaRevision.objects.create(
        major=major,
        revision=1 if latest is None else latest.revision + 1,
        json_schema=entry.json_schema,
        avro_schema=avro_schema_text(entry.avro_schema),
        fingerprint=fingerprint,
        created_by=created_by,
    )
    return "created" if major_created else "revised"
