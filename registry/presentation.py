"""Pure formatting of schemas for people: pretty text, field tables and diffs (the admin's pages).

No database and no Django: each function takes plain JSON values and returns plain values, so they
are tested on their own.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

# Deep enough for every catalogue schema (xAPI nests five levels); a guard against huge tables.
_MAX_DEPTH = 6


def pretty_json(value: Any) -> str:
    """``value`` (or the JSON text ``value``) indented by two spaces, keys in their given order."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False)


# --- JSON schema ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonField:
    """One property of a JSON schema; nested properties have dotted names (``a.b``, ``a[].b``)."""

    name: str
    type: str
    required: bool
    description: str
    depth: int


def _json_ref_target(root: dict[str, Any], ref: str) -> tuple[str, dict[str, Any]] | None:
    """The name and schema a local ``$ref`` (``#/$defs/Agent``) points to, or None."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return (ref.rsplit("/", 1)[-1], node) if isinstance(node, dict) else None


def _json_alternatives(root: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The names of the schemas a ``oneOf``/``anyOf`` (or ``allOf`` of if/then) chooses between."""
    names = []
    for key in ("oneOf", "anyOf"):
        for option in schema.get(key, []):
            if isinstance(option, dict):
                names.append(_json_type_label(root, option))
    for option in schema.get("allOf", []):
        then = option.get("then") if isinstance(option, dict) else None
        if isinstance(then, dict):
            names.append(_json_type_label(root, then))
    return names


def _json_type_label(root: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        target = _json_ref_target(root, str(schema["$ref"]))
        if target is None:
            return f"→ {schema['$ref']}"
        name, resolved = target
        if resolved.get("properties") or _json_alternatives(root, resolved):
            return name
        return f"{name} ({_json_type_label(root, resolved)})"
    if "const" in schema:
        return f"const {json.dumps(schema['const'], ensure_ascii=False)}"
    alternatives = _json_alternatives(root, schema)
    if alternatives:
        return " | ".join(alternatives)
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared] if declared else []
    labels = []
    for kind in types:
        label = str(kind)
        if kind == "array" and isinstance(schema.get("items"), dict):
            label = f"array of {_json_type_label(root, schema['items'])}"
        elif kind == "object" and not schema.get("properties") and isinstance(schema.get("additionalProperties"), dict):
            label = f"map of {_json_type_label(root, schema['additionalProperties'])}"
        elif "format" in schema and kind == "string":
            label = f"string ({schema['format']})"
        labels.append(label)
    label = " | ".join(labels) or ("enum" if "enum" in schema else "any")
    if "enum" in schema:
        label += ": " + ", ".join(json.dumps(item, ensure_ascii=False) for item in schema["enum"])
    return label


def _json_object_below(root: dict[str, Any], schema: dict[str, Any], seen: frozenset[str]) -> tuple[Any, str, str]:
    """The object schema whose properties nest under a property (through ``$ref`` and array
    items), the suffix its children's names get and the ``$ref`` followed last; (None, "", "")
    when there is none. A ``$ref`` already on the path (a recursive schema) stops the descent."""
    suffix = ""
    ref = ""
    for _ in range(4):
        if "$ref" in schema:
            ref = str(schema["$ref"])
            target = _json_ref_target(root, ref)
            if target is None or ref in seen:
                return None, "", ""
            schema = target[1]
            continue
        if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
            schema = schema["items"]
            suffix += "[]"
            continue
        break
    return (schema, suffix, ref) if isinstance(schema, dict) else (None, "", "")


def _json_options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    options = [option for key in ("oneOf", "anyOf") for option in schema.get(key, []) if isinstance(option, dict)]
    for option in schema.get("allOf", []):
        then = option.get("then") if isinstance(option, dict) else None
        if isinstance(then, dict):
            options.append(then)
    return options


def json_schema_fields(schema: dict[str, Any]) -> list[JsonField]:
    """The properties of a JSON schema, nested objects' properties after their parent. The
    properties of each alternative of a ``oneOf``/``anyOf`` (or an ``allOf`` of if/then) are
    named ``parent(Alternative).child``."""
    rows: list[JsonField] = []

    def walk(node: dict[str, Any], prefix: str, depth: int, seen: frozenset[str]) -> None:
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            if not isinstance(prop, dict):
                continue
            description = str(prop.get("description", ""))
            if not description and "$ref" in prop:
                target = _json_ref_target(schema, str(prop["$ref"]))
                description = str(target[1].get("description", "")) if target else ""
            full_name = f"{prefix}{name}"
            rows.append(JsonField(full_name, _json_type_label(schema, prop), name in required, description, depth))
            descend(prop, full_name, depth + 1, seen)

    def descend(prop: dict[str, Any], full_name: str, depth: int, seen: frozenset[str]) -> None:
        child, suffix, ref = _json_object_below(schema, prop, seen)
        if child is None or depth >= _MAX_DEPTH:
            return
        seen = seen | {ref} if ref else seen
        if isinstance(child.get("properties"), dict):
            walk(child, f"{full_name}{suffix}.", depth, seen)
        for option in _json_options(child):
            label = _json_type_label(schema, option)
            option_node, _, option_ref = _json_object_below(schema, option, seen)
            if option_node is not None and option_node.get("properties"):
                option_seen = seen | {option_ref} if option_ref else seen
                walk(option_node, f"{full_name}{suffix}({label}).", depth, option_seen)

    walk(schema, "", 0, frozenset())
    return rows


# --- Avro ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AvroField:
    """One field of an Avro record; fields of nested records have dotted names."""

    name: str
    type: str
    default: str
    doc: str
    depth: int


def _short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def avro_type_label(avro_type: Any) -> str:
    """An Avro type as people read it: ``?uuid`` (null or uuid), ``map<string>``,
    ``array<string>``, ``timestamp-millis``; named types by their short name."""
    if isinstance(avro_type, str):
        return _short_name(avro_type)
    if isinstance(avro_type, list):
        others = [member for member in avro_type if member != "null"]
        if len(others) == 1 and len(avro_type) == 2:
            return "?" + avro_type_label(others[0])
        return " | ".join(avro_type_label(member) for member in avro_type)
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        logical = avro_type.get("logicalType")
        if logical == "decimal":
            return f"decimal({avro_type.get('precision')},{avro_type.get('scale', 0)})"
        if logical:
            return str(logical)
        if kind == "array":
            return f"array<{avro_type_label(avro_type.get('items'))}>"
        if kind == "map":
            return f"map<{avro_type_label(avro_type.get('values'))}>"
        if kind == "enum":
            return f"enum {_short_name(str(avro_type.get('name')))} {{{', '.join(avro_type.get('symbols', []))}}}"
        if kind in ("record", "error", "fixed"):
            return _short_name(str(avro_type.get("name")))
        return avro_type_label(kind)
    return json.dumps(avro_type)


def _avro_named_records(schema: Any) -> dict[str, dict[str, Any]]:
    """Every record defined in ``schema``, by full and by short name (references may use either)."""
    found: dict[str, dict[str, Any]] = {}

    def visit(node: Any, namespace: str) -> None:
        if isinstance(node, list):
            for member in node:
                visit(member, namespace)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "error") and isinstance(node.get("fields"), list):
                name = str(node.get("name", ""))
                namespace = name.rpartition(".")[0] if "." in name else str(node.get("namespace", namespace))
                full_name = name if "." in name or not namespace else f"{namespace}.{name}"
                found.setdefault(full_name, node)
                found.setdefault(_short_name(full_name), node)
                for field in node["fields"]:
                    if isinstance(field, dict):
                        visit(field.get("type"), namespace)
            elif kind == "array":
                visit(node.get("items"), namespace)
            elif kind == "map":
                visit(node.get("values"), namespace)
            elif isinstance(kind, (dict, list)):
                visit(kind, namespace)

    visit(schema, "")
    return found


def avro_fields(schema: dict[str, Any]) -> list[AvroField]:
    """The fields of an Avro record, nested records' fields after their parent (also where a
    record is referenced by name). Each record of a union of several is named
    ``parent(Record).child``; a record already on the path (a recursive type) is not expanded."""
    records = _avro_named_records(schema)
    rows: list[AvroField] = []

    def record_of(avro_type: Any) -> dict[str, Any] | None:
        if isinstance(avro_type, str):
            return records.get(avro_type) or records.get(_short_name(avro_type))
        if isinstance(avro_type, dict) and isinstance(avro_type.get("fields"), list):
            return avro_type
        return None

    def walk(record: dict[str, Any], prefix: str, depth: int, path: frozenset[str]) -> None:
        for field in record.get("fields", []):
            name = f"{prefix}{field.get('name')}"
            default = json.dumps(field["default"], ensure_ascii=False) if "default" in field else ""
            rows.append(AvroField(name, avro_type_label(field.get("type")), default, str(field.get("doc", "")), depth))
            descend(field.get("type"), name, depth + 1, path)

    def descend(avro_type: Any, name: str, depth: int, path: frozenset[str], label: str = "") -> None:
        if depth >= _MAX_DEPTH:
            return
        if isinstance(avro_type, list):
            members = [member for member in avro_type if member != "null"]
            records = [member for member in members if record_of(member) is not None]
            for member in members:
                several = len(records) > 1 and member in records
                descend(member, name, depth, path, f"({avro_type_label(member)})" if several else "")
        elif isinstance(avro_type, dict) and avro_type.get("type") in ("array", "map"):
            is_array = avro_type["type"] == "array"
            inner = avro_type.get("items" if is_array else "values")
            descend(inner, name + ("[]" if is_array else "{}"), depth, path)
        elif (record := record_of(avro_type)) is not None:
            record_name = _short_name(str(record.get("name", "")))
            if record_name not in path:
                walk(record, f"{name}{label}.", depth, path | {record_name})

    walk(schema, "", 0, frozenset({_short_name(str(schema.get("name", "")))}))
    return rows


# --- Diffs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff; ``kind`` is header, hunk, added, removed or context."""

    kind: str
    text: str


def _diff_kind(line: str) -> str:
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "added"
    if line.startswith("-"):
        return "removed"
    return "context"


def text_diff(old: str, new: str, *, old_label: str, new_label: str, context: int = 3) -> list[DiffLine]:
    """A unified diff of two texts, line by line; empty when they are equal."""
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm="", n=context
    )
    # The first two lines name the sides (``--- r1``, ``+++ r2``); a changed line may look alike.
    return [DiffLine("header" if index < 2 else _diff_kind(line), line) for index, line in enumerate(lines)]


def schema_diff(old: Any, new: Any, *, old_label: str, new_label: str) -> list[DiffLine]:
    """A unified diff of two schemas (JSON values or JSON text), each pretty-printed first so
    that a change shows as the lines it touches."""
    return text_diff(pretty_json(old), pretty_json(new), old_label=old_label, new_label=new_label)
