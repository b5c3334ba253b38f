"""The catalogue's generated files: each folder's ``avro.avsc`` comes from its ``schema.json`` and
the ``avro`` section of its ``event.json`` (``manage.py generate_avro``; ``--check`` in CI).

Folders are ``<root>/<namespace as path>/<event>/v<major>/``; the record's full name is
``<namespace>.<event>_v<major>`` (EVENTS.md). Folders whose ``avro`` section says
``{"handwritten": true}`` keep their hand-written ``avro.avsc``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.generator import GeneratorError, avro_schema_generate, avro_section_parse

AVRO_FILE = "avro.avsc"
_MAJOR_DIR = re.compile(r"^v(?P<major>[1-9][0-9]*)$")

Progress = Callable[[Iterable[Path]], Iterable[Path]]


class CatalogueFilesError(ValueError):
    pass


@dataclass
class AvroFilesReport:
    """Paths of ``avro.avsc`` files, relative to the catalogue root."""

    written: list[Path] = field(default_factory=list)
    up_to_date: list[Path] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)
    handwritten: list[Path] = field(default_factory=list)


def avro_file_text(schema: dict[str, Any]) -> str:
    """How a generated ``avro.avsc`` is written."""
    return json.dumps(schema, indent=2) + "\n"


def catalogue_json_read(path: Path) -> Any:
    """A catalogue file's JSON; ``CatalogueFilesError`` naming the file when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueFilesError(f"{path}: {exc}") from exc


def catalogue_folders(*, root: Path) -> list[Path]:
    """Every event folder (one holding a ``schema.json``) under ``root``, in a stable order."""
    if not root.is_dir():
        raise CatalogueFilesError(f"{root}: no such catalogue folder")
    return sorted(path.parent for path in root.rglob("schema.json"))


def record_full_name(*, root: Path, folder: Path) -> str:
    """``<root>/org/openstax/ec/nudged/v1`` → ``org.openstax.ec.nudged_v1``."""
    parts = folder.relative_to(root).parts
    match = _MAJOR_DIR.match(parts[-1]) if parts else None
    if match is None or len(parts) < 3:
        raise CatalogueFilesError(f"{folder}: expected <root>/<namespace as path>/<event>/v<major>/")
    return ".".join(parts[:-2]) + f".{parts[-2]}_v{match['major']}"


def avro_schema_of_folder(*, root: Path, folder: Path) -> dict[str, Any] | None:
    """The Avro schema generated from a folder's files; None when its avsc is handwritten."""
    meta = catalogue_json_read(folder / "event.json")
    if not isinstance(meta, dict) or "avro" not in meta:
        raise CatalogueFilesError(f"{folder / 'event.json'}: needs an `avro` section")
    section = avro_section_parse(meta["avro"])
    if section.handwritten:
        return None
    json_schema = catalogue_json_read(folder / "schema.json")
    full_name = record_full_name(root=root, folder=folder)
    declared = {
        "$id": json_schema.get("$id"),
        "properties.type.const": json_schema.get("properties", {}).get("type", {}).get("const"),
    }
    for where, value in declared.items():
        if value is not None and value != full_name:
            raise CatalogueFilesError(f"{folder / 'schema.json'}: {where} is {value!r}, the folder says {full_name!r}")
    try:
        return avro_schema_generate(json_schema=json_schema, full_name=full_name, avro=section)
    except GeneratorError as exc:
        raise CatalogueFilesError(f"{folder}: {exc}") from exc


def avro_files_generate(*, root: Path, write: bool, progress: Progress | None = None) -> AvroFilesReport:
    """Generate every folder's ``avro.avsc``; with ``write=False`` only report which are stale.
    Files already up to date are not rewritten."""
    report = AvroFilesReport()
    folders = catalogue_folders(root=root)
    for folder in progress(folders) if progress else folders:
        path = folder / AVRO_FILE
        relative = path.relative_to(root)
        schema = avro_schema_of_folder(root=root, folder=folder)
        if schema is None:
            report.handwritten.append(relative)
            continue
        text = avro_file_text(schema)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            report.up_to_date.append(relative)
        elif write:
            path.write_text(text, encoding="utf-8")
            report.written.append(relative)
        else:
            report.stale.append(relative)
    return report
