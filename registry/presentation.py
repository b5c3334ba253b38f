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


def _json_options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas a ``oneOf``/``anyOf`` (or an ``allOf`` of if/then) chooses between."""
    options = [option for key in ("oneOf", "anyOf") for option in schema.get(key, []) if isinstance(option, dict)]
    for option in schema.get("allOf", []):
        then = option.get("then") if isinstance(option, dict) else None
        if isinstance(then, dict):
            options.append(then)
    return options


class _JsonTable:
    """The rows of one JSON schema's field table. A definition (``$ref``) is spelled out once,
    where it is first used, and named only after that: its properties are listed once, and a type
    label describes it once. Listing it at every use would take time and space exponential in the
    schema's size (a definition using another twice, which uses another twice...)."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.described: set[str] = set()
        self.listed: set[str] = set()
        self.rows: list[JsonField] = []

    def label(self, schema: dict[str, Any]) -> str:
        if "$ref" in schema:
            ref = str(schema["$ref"])
            target = _json_ref_target(self.root, ref)
            if target is None:
                return f"→ {ref}"
            name, resolved = target
            if resolved.get("properties") or _json_options(resolved) or ref in self.described:
                return name
            self.described.add(ref)
            return f"{name} ({self.label(resolved)})"
        if "const" in schema:
            return f"const {json.dumps(schema['const'], ensure_ascii=False)}"
        alternatives = [self.label(option) for option in _json_options(schema)]
        if alternatives:
            return " | ".join(alternatives)
        declared = schema.get("type")
        types = declared if isinstance(declared, list) else [declared] if declared else []
        labels = []
        for kind in types:
            label = str(kind)
            values = schema.get("additionalProperties")
            if kind == "array" and isinstance(schema.get("items"), dict):
                label = f"array of {self.label(schema['items'])}"
            elif kind == "object" and not schema.get("properties") and isinstance(values, dict):
                label = f"map of {self.label(values)}"
            elif "format" in schema and kind == "string":
                label = f"string ({schema['format']})"
            labels.append(label)
        label = " | ".join(labels) or ("enum" if "enum" in schema else "any")
        if "enum" in schema:
            label += ": " + ", ".join(json.dumps(item, ensure_ascii=False) for item in schema["enum"])
        return label

    def object_below(self, schema: dict[str, Any]) -> tuple[Any, str, str]:
        """The object schema whose properties nest under a property (through ``$ref`` and array
        items), the suffix its children's names get and the ``$ref`` followed last; (None, "", "")
        when there is none, or when it is a definition whose properties are listed already."""
        suffix = ""
        ref = ""
        for _ in range(4):
            if "$ref" in schema:
                ref = str(schema["$ref"])
                target = _json_ref_target(self.root, ref)
                if target is None or ref in self.listed:
                    return None, "", ""
                schema = target[1]
                continue
            if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
                schema = schema["items"]
                suffix += "[]"
                continue
            break
        return (schema, suffix, ref) if isinstance(schema, dict) else (None, "", "")

    def walk(self, node: dict[str, Any], prefix: str, depth: int) -> None:
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            if not isinstance(prop, dict):
                continue
            description = str(prop.get("description", ""))
            if not description and "$ref" in prop:
                target = _json_ref_target(self.root, str(prop["$ref"]))
                description = str(target[1].get("description", "")) if target else ""
            full_name = f"{prefix}{name}"
            self.rows.append(JsonField(full_name, self.label(prop), name in required, description, depth))
            self.descend(prop, full_name, depth + 1)

    def descend(self, prop: dict[str, Any], full_name: str, depth: int) -> None:
        if depth >= _MAX_DEPTH:
            return
        child, suffix, ref = self.object_below(prop)
        if child is None:
            return
        if ref:
            self.listed.add(ref)
        if isinstance(child.get("properties"), dict):
            self.walk(child, f"{full_name}{suffix}.", depth)
        for option in _json_options(child):
            label = self.label(option)
            option_node, _, option_ref = self.object_below(option)
            if option_node is not None and option_node.get("properties"):
                if option_ref:
                    self.listed.add(option_ref)
                self.walk(option_node, f"{full_name}{suffix}({label}).", depth)


def json_schema_fields(schema: dict[str, Any]) -> list[JsonField]:
    """The properties of a JSON schema, nested objects' properties after their parent. The
    properties of each alternative of a ``oneOf``/``anyOf`` (or an ``allOf`` of if/then) are
    named ``parent(Alternative).child``. A definition's properties are listed where it is first
    used; later uses (and uses within itself) show its name only."""
    table = _JsonTable(schema)
    table.walk(schema, "", 0)
    return table.rows


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
    """The fields of an Avro record, nested records' fields after their parent. Each record of
    a union of several is named ``parent(Record).child``. A named record's fields are listed once,
    under the first field of its type; later fields of that type (and fields of it within itself)
    show its name only: listing it at every use would take time and space exponential in the
    schema's size (a record using another twice, which uses another twice...)."""
    records = _avro_named_records(schema)
    rows: list[AvroField] = []
    listed = {id(schema)}

    def record_of(avro_type: Any) -> dict[str, Any] | None:
        if isinstance(avro_type, str):
            return records.get(avro_type) or records.get(_short_name(avro_type))
        if isinstance(avro_type, dict) and isinstance(avro_type.get("fields"), list):
            return avro_type
        return None

    def walk(record: dict[str, Any], prefix: str, depth: int) -> None:
        for field in record.get("fields", []):
            name = f"{prefix}{field.get('name')}"
            default = json.dumps(field["default"], ensure_ascii=False) if "default" in field else ""
            rows.append(AvroField(name, avro_type_label(field.get("type")), default, str(field.get("doc", "")), depth))
            descend(field.get("type"), name, depth + 1)

    def descend(avro_type: Any, name: str, depth: int, label: str = "") -> None:
        if depth >= _MAX_DEPTH:
            return
        if isinstance(avro_type, list):
            members = [member for member in avro_type if member != "null"]
            in_union = [member for member in members if record_of(member) is not None]
            for member in members:
                several = len(in_union) > 1 and member in in_union
                descend(member, name, depth, f"({avro_type_label(member)})" if several else "")
        elif isinstance(avro_type, dict) and avro_type.get("type") in ("array", "map"):
            is_array = avro_type["type"] == "array"
            inner = avro_type.get("items" if is_array else "values")
            descend(inner, name + ("[]" if is_array else "{}"), depth)
        elif (record := record_of(avro_type)) is not None and id(record) not in listed:
            listed.add(id(record))
            walk(record, f"{name}{label}.", depth)

    walk(schema, "", 0)
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
