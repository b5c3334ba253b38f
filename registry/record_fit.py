"""Whether a revision's two schemas can carry every event the API accepts into Kafka. Pure
functions: no Django, no I/O.

The edge validates a payload against the JSON schema, builds the Kafka record from it and queues
it (202); the worker encodes the record with the Avro schema. Anything the JSON schema lets
through that the Avro record cannot hold becomes a dead letter after the client was told its
event was accepted, so a revision is refused when:

- ``avro_type_problems``: a named Avro type refers to itself, directly or through other named
  types; a union holds a UUID beside another type than null (the worker could not tell which the
  text is); or the schema grows past ``MAX_EXPANDED_NODES`` once every named type is written out
  where it is used (as the admin's field tables, code generators and encoders do). Recursion
  buys nothing here: a payload checked by a JSON schema is recursive only through a ``$ref``
  recursion, which the catalogue's generator refuses, while consumers' generated code, the
  admin's tables and older encoders write types out and never end on a recursive one;
- ``record_fit_problems``: the JSON schema lets clients set fields the server sets, lacks the
  envelope the edge reads, or admits values the Avro record cannot hold; or the Avro record has
  fields no value fills and that cannot be left out.

Every reason starts with the path it concerns: ``source_metadata.content_index``, ``tags[]``
(array items), ``attributes.*`` (map values), ``object[Group].member[]`` (the branch of a choice
by ``objectType``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

from registry.generator import CONSUMED_FIELDS, INT32_MAX, INT32_MIN, SERVER_FIELDS
from registry.presentation import avro_type_label

# The type whose records are the statements posted to the xAPI endpoint: its record holds the
# statement's own fields, and the server adds none.
XAPI_STATEMENT = "org.adlnet.xapi.Statement"

# Well above the largest real schema (revision 2 of the xAPI statement expands to 2,118 nodes) and far
# below what makes a walker that writes types out slow.
MAX_EXPANDED_NODES = 10_000
# Levels of values (record fields, array items, map values) the fit check follows. Payloads are
# refused far sooner at the edge (MAX_JSON_DEPTH); this only keeps the check's own stack bounded.
MAX_NESTING = 64
# Reasons listed at most; a schema with more problems says how many it left out.
MAX_REASONS = 50

# The envelope every event but an xAPI statement sends: the edge reads these by key, as text.
ENVELOPE_FIELDS = ("type", "client_clock_occurred_at", "client_clock_sent_at", "source_uri", "session_uuid")
_CLOCKS = frozenset({"client_clock_occurred_at", "client_clock_sent_at"})

_NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
_LOCAL_REF = re.compile(r"#/\$defs/(?P<name>[^/]+)")

# JSON Schema keywords that only document or narrow the values a schema admits: the Avro type
# must hold every value they let through, so the check can ignore them.
_IGNORED_KEYWORDS = frozenset(
    {
        "format",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "contains",
        "minContains",
        "maxContains",
        "minProperties",
        "maxProperties",
        "propertyNames",
        "description",
        "title",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentEncoding",
        "contentMediaType",
        "$comment",
        "$schema",
        "$anchor",
    }
)
_UNDERSTOOD_KEYWORDS = _IGNORED_KEYWORDS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "allOf",
    "$ref",
    "$defs",
}

# JSON value kinds; "number" admits integers too, so a schema admitting numbers is not also
# checked for integers.
_ALL_KINDS = frozenset({"null", "boolean", "integer", "number", "string", "object", "array"})
# What a schema without a type admits.
_ANY_VALUE = _ALL_KINDS - {"integer"}
_KIND_ORDER = ("null", "boolean", "integer", "number", "string", "object", "array")
_KIND_WORDS = {
    "null": "null",
    "boolean": "true and false",
    "integer": "integers",
    "number": "numbers",
    "string": "strings",
    "object": "objects",
    "array": "arrays",
}
# The Avro types a value of each kind may be written as (named types by their kind).
_AVRO_CANDIDATES = {
    "null": frozenset({"null"}),
    "boolean": frozenset({"boolean"}),
    "integer": frozenset({"int", "long", "float", "double"}),
    "number": frozenset({"int", "long", "float", "double"}),
    "string": frozenset({"string", "enum", "fixed"}),
    "object": frozenset({"record", "error", "map"}),
    "array": frozenset({"array"}),
}
_UUID_SIZE = 16
# The integers a double holds exactly.
_DOUBLE_EXACT = 2**53


# --- Named Avro types: recursion and size ---------------------------------------------------------


def _parsed_record(avro_schema: str | Mapping[str, Any]) -> dict[str, Any]:
    """fastavro's parsed form of a record schema (text or JSON): every name in full."""
    parsed = fastavro.parse_schema(json.loads(avro_schema) if isinstance(avro_schema, str) else dict(avro_schema))
    if not isinstance(parsed, dict):
        raise TypeError("an Avro record schema is needed")
    return parsed


def _avro_children(node: Any) -> list[Any]:
    """The types directly inside ``node`` (a type of fastavro's parsed form)."""
    if isinstance(node, list):
        return list(node)
    if not isinstance(node, dict):
        return []
    kind = node.get("type")
    if isinstance(kind, (dict, list)):
        return [kind]
    if kind in ("record", "error"):
        return [field.get("type") for field in node.get("fields", []) if isinstance(field, dict)]
    if kind == "array":
        return [node.get("items")]
    if kind == "map":
        return [node.get("values")]
    return []


def _avro_definitions(parsed: Any) -> dict[str, dict[str, Any]]:
    """Every named type defined in ``parsed``, by full name (fastavro names them all in full)."""
    definitions: dict[str, dict[str, Any]] = {}
    stack = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and node.get("type") in _NAMED_KINDS and isinstance(node.get("name"), str):
            definitions.setdefault(node["name"], node)
        stack.extend(_avro_children(node))
    return definitions


@dataclass(frozen=True)
class _Body:
    """A named type's own nodes (its definition, its fields and the unnamed types inside them)
    and the named types it uses, once per use."""

    nodes: int
    uses: tuple[str, ...]


def _avro_body(definition: dict[str, Any], definitions: Mapping[str, Any]) -> _Body:
    nodes = 1 + len(definition.get("fields", []))
    uses: list[str] = []
    stack = _avro_children(definition)
    while stack:
        node = stack.pop()
        if isinstance(node, str) and node in definitions:
            uses.append(node)
        elif isinstance(node, dict) and node.get("type") in _NAMED_KINDS and node.get("name") in definitions:
            uses.append(node["name"])  # defined here: written out here, as a reference would be
        else:
            nodes += 1
            if isinstance(node, dict):
                nodes += len(node.get("fields", []))
            stack.extend(_avro_children(node))
    return _Body(nodes, tuple(uses))


def _cycle_or_order(root: str, bodies: Mapping[str, _Body]) -> tuple[list[str] | None, list[str]]:
    """A cycle of named types reachable from ``root`` (as a path that ends where it starts), or
    None and every reachable type in an order where each comes after the types it uses. Depth
    first without recursion: a chain of named types may be longer than Python's stack."""
    state: dict[str, int] = {root: 1}  # 1: on the current path, 2: done
    order: list[str] = []
    path: list[str] = [root]
    pending: list[Iterator[str]] = [iter(dict.fromkeys(bodies[root].uses))]
    while pending:
        following = next(pending[-1], None)
        if following is None:
            pending.pop()
            done = path.pop()
            state[done] = 2
            order.append(done)
        elif state.get(following) == 1:
            return [*path[path.index(following) :], following], order
        elif following not in state:
            state[following] = 1
            path.append(following)
            pending.append(iter(dict.fromkeys(bodies[following].uses)))
    return None, order


def _expansion(avro_schema: str | Mapping[str, Any], *, cap: int) -> tuple[list[str] | None, int]:
    """A cycle of named types in ``avro_schema`` (or None), and how many nodes (types and fields)
    it has once every named type is written out where it is used, at most ``cap`` (the exact
    size of a schema built to explode does not matter, and would be a huge number). Linear in
    the schema's size: each named type's size is computed once, from the sizes of those it uses."""
    parsed = _parsed_record(avro_schema)
    definitions = _avro_definitions(parsed)
    bodies = {name: _avro_body(definition, definitions) for name, definition in definitions.items()}
    cycle, order = _cycle_or_order(parsed["name"], bodies)
    if cycle is not None:
        return cycle, 0
    sizes: dict[str, int] = {}
    for name in order:
        sizes[name] = min(bodies[name].nodes + sum(sizes[used] for used in bodies[name].uses), cap)
    return None, sizes[parsed["name"]]


def avro_expanded_size(avro_schema: str | Mapping[str, Any], *, cap: int = 10**12) -> int | None:
    """How many nodes (types and fields) ``avro_schema`` has once every named type is written out
    where it is used, at most ``cap``; None when a named type refers to itself."""
    cycle, size = _expansion(avro_schema, cap=cap)
    return None if cycle is not None else size


def _is_uuid_fixed(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "fixed" and node.get("size") == 16


def _holds_uuid(node: Any, holding: Mapping[str, bool]) -> bool:
    """Whether a value of ``node`` can hold a UUID (a 16-byte fixed), the named types it uses
    already judged in ``holding``. Unnamed types nest only as deep as the schema's JSON does."""
    if isinstance(node, str):
        return holding.get(node, False)
    if _is_uuid_fixed(node):
        return True
    if isinstance(node, dict) and node.get("type") in _NAMED_KINDS and node.get("name") in holding:
        return holding[node["name"]]
    return any(_holds_uuid(child, holding) for child in _avro_children(node))


def _mixed_uuid_unions(avro_schema: str | Mapping[str, Any]) -> list[str]:
    """The unions where a branch holding a UUID stands beside another type than null, as
    ``record.field`` (the worker turns a UUID's text into its 16 bytes only where the field's type
    leaves no choice; fastavro would refuse the text in a union of several)."""
    parsed = _parsed_record(avro_schema)
    definitions = _avro_definitions(parsed)
    bodies = {name: _avro_body(definition, definitions) for name, definition in definitions.items()}
    _, order = _cycle_or_order(parsed["name"], bodies)
    holding: dict[str, bool] = {}
    for name in order:
        definition = definitions[name]
        holding[name] = _is_uuid_fixed(definition) or any(
            _holds_uuid(child, holding) for child in _avro_children(definition)
        )
    found = []
    for name in order:
        for field in definitions[name].get("fields", []):
            stack = [field.get("type")]
            while stack:
                node = stack.pop()
                if isinstance(node, list):
                    others = [branch for branch in node if branch != "null"]
                    if len(others) > 1 and any(_holds_uuid(branch, holding) for branch in others):
                        found.append(f"{name}.{field.get('name')}")
                        break
                if isinstance(node, dict) and node.get("type") in _NAMED_KINDS:
                    continue  # judged as a definition of its own
                stack.extend(_avro_children(node))
    return found


def avro_type_problems(avro_schema: str | Mapping[str, Any], *, max_nodes: int = MAX_EXPANDED_NODES) -> list[str]:
    """Why ``avro_schema`` (a valid Avro record) cannot be published whatever its JSON schema:
    a recursive named type, past ``max_nodes`` nodes once named types are written out, or a
    union in which a UUID stands beside another type than null."""
    cap = 10 * max_nodes
    cycle, size = _expansion(avro_schema, cap=cap)
    if cycle is not None:
        return [f"recursive types are not supported: {' → '.join(cycle)}"]
    if size > max_nodes:
        shown = f"{size:,}" if size < cap else f"more than {cap:,}"
        return [
            "the Avro schema is too large once each named type is written out where it is used: "
            f"{shown} types and fields, at most {max_nodes:,} are allowed"
        ]
    return [
        f"{where}: a union in which a UUID (a 16-byte fixed) stands beside another type than null is not "
        "supported: a UUID's text is written as its 16 bytes only where nothing else but null can be meant"
        for where in _mixed_uuid_unions(avro_schema)
    ]


# --- JSON values into the Avro record -------------------------------------------------------------


def _value_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _listed_values(schema: Mapping[str, Any]) -> list[Any] | None:
    """The values ``enum`` or ``const`` allow (both: those in both), or None."""
    values: list[Any] | None = None
    if isinstance(schema.get("enum"), list):
        values = list(schema["enum"])
    if "const" in schema:
        values = [schema["const"]] if values is None or schema["const"] in values else []
    return values


def _kinds(schema: Any) -> frozenset[str]:
    """The kinds of JSON values ``schema`` admits ("number" standing for integers too)."""
    if schema is True:
        return _ANY_VALUE
    if not isinstance(schema, Mapping):
        return frozenset()
    declared = schema.get("type")
    types = set(_ALL_KINDS)
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {kind for kind in declared if isinstance(kind, str)}
    values = _listed_values(schema)
    if values is not None:
        kinds = {_value_kind(value) for value in values}
        types = {kind for kind in kinds if kind in types or (kind == "integer" and "number" in types)}
    if "number" in types:
        types.discard("integer")
    return frozenset(types)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _integer_range(schema: Mapping[str, Any]) -> tuple[float, float]:
    """The lowest and highest integer ``schema`` admits (infinite when unbounded)."""
    values = _listed_values(schema)
    if values is not None:
        numbers = [value for value in values if _value_kind(value) == "integer"]
        return (min(numbers), max(numbers)) if numbers else (0, 0)
    low, high = -math.inf, math.inf
    if (minimum := _finite(schema.get("minimum"))) is not None:
        low = max(low, math.ceil(minimum))
    if (above := _finite(schema.get("exclusiveMinimum"))) is not None:
        low = max(low, math.floor(above) + 1)
    if (maximum := _finite(schema.get("maximum"))) is not None:
        high = min(high, math.floor(maximum))
    if (below := _finite(schema.get("exclusiveMaximum"))) is not None:
        high = min(high, math.ceil(below) - 1)
    return low, high


def _admits_null(avro_type: Any) -> bool:
    return avro_type == "null" or (isinstance(avro_type, list) and "null" in avro_type)


def _where(path: str) -> str:
    return path or "the record"


# What the server writes in each of its fields, as a JSON schema of those values, and in words.
_SERVER_VALUES: Mapping[str, tuple[dict[str, Any], str]] = {
    "device_uuid": ({"type": ["string", "null"], "format": "uuid"}, "a UUID or null"),
    "user_uuid": ({"type": ["string", "null"], "format": "uuid"}, "a UUID or null"),
    "scheme": ({"type": "string"}, "text"),
    "host": ({"type": "string"}, "text"),
    "path": ({"type": "string"}, "text"),
    "query": (
        {"type": ["object", "null"], "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "null or a map of lists of text",
    ),
    "occurred_at": ({"type": "integer"}, "milliseconds since the epoch (a long with logicalType timestamp-millis)"),
    "ip_address": ({"type": "string"}, "text"),
    "user_agent": ({"type": "string"}, "text"),
}


def _choice_branch(item: Any) -> tuple[str, str, Any] | None:
    """``(property, value, then)`` of ``{"if": {"properties": {property: {"const": value}}},
    "then": ...}`` (the ``if`` may also require the property and say type object), or None."""
    if not isinstance(item, dict) or set(item) - _IGNORED_KEYWORDS != {"if", "then"}:
        return None
    condition = item["if"]
    if not isinstance(condition, dict) or set(condition) - {"required", "properties", "type"}:
        return None
    pinned = condition.get("properties")
    if not isinstance(pinned, dict) or len(pinned) != 1:
        return None
    [(key, value_schema)] = pinned.items()
    if not isinstance(value_schema, dict) or set(value_schema) != {"const"}:
        return None
    value = value_schema["const"]
    if not isinstance(value, str) or condition.get("required", [key]) != [key]:
        return None
    if condition.get("type", "object") != "object":
        return None
    return key, value, item["then"]


class _Fit:
    """One check of a JSON schema against an Avro record. Each (JSON subschema, Avro record)
    pair is checked once and remembered, so a definition used in many places costs once and its
    problems are reported once, where it is first used."""

    def __init__(self, *, json_root: Any, parsed_avro: dict[str, Any], xapi: bool) -> None:
        self.json_root = json_root
        self.definitions = _avro_definitions(parsed_avro)
        self.xapi = xapi
        self.problems: list[str] = []
        self.memo: dict[tuple[Any, ...], tuple[bool, list[str]]] = {}
        # The objects whose ids are in ``memo``'s keys, kept so that no other object takes an id.
        self.alive: list[Any] = []

    def refuse(self, message: str) -> bool:
        self.problems.append(message)
        return False

    def quietly(self) -> list[str]:
        """Start collecting problems apart (to try a branch); ``restore`` puts back the others."""
        kept, self.problems = self.problems, []
        return kept

    def restore(self, kept: list[str]) -> list[str]:
        collected, self.problems = self.problems, kept
        return collected

    def remembered(self, key: tuple[Any, ...], objects: tuple[Any, ...], check: Callable[[], bool]) -> bool:
        """``check()`` once per ``key`` (which holds the ids of ``objects``): later calls answer
        its outcome and repeat its problems, which name the path of the first call."""
        if key not in self.memo:
            self.alive.append(objects)
            # Read only if the check met its own key again, which would take a recursive Avro type.
            self.memo[key] = (True, [])
            kept = self.quietly()
            fits = check()
            self.memo[key] = (fits, self.restore(kept))
        fits, problems = self.memo[key]
        self.problems.extend(problems)
        return fits

    # --- Reading the JSON schema

    def resolve(self, schema: Any, path: str) -> Any:
        """``schema`` with its local ``$ref``s followed; None (and a problem) when they cannot be."""
        followed: list[str] = []
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            beside = sorted(set(schema) - _IGNORED_KEYWORDS - {"$ref"})
            if beside:
                self.refuse(
                    f"{_where(path)}: the JSON schema has {', '.join(beside)} beside $ref, which cannot be checked; "
                    "move them into the definition it refers to"
                )
                return None
            match = _LOCAL_REF.fullmatch(ref) if isinstance(ref, str) else None
            if match is None:
                self.refuse(
                    f"{_where(path)}: the JSON schema's $ref {ref!r} cannot be checked: only references to its "
                    "own definitions (#/$defs/Name) can"
                )
                return None
            if ref in followed:
                loop = " → ".join([*followed, ref])
                self.refuse(f"{_where(path)}: the JSON schema's $ref goes round in a circle: {loop}")
                return None
            followed.append(ref)
            name = match["name"].replace("~1", "/").replace("~0", "~")
            definitions = self.json_root.get("$defs") if isinstance(self.json_root, dict) else None
            if not isinstance(definitions, dict) or name not in definitions:
                self.refuse(f"{_where(path)}: the JSON schema's $ref {ref!r} names none of its $defs")
                return None
            schema = definitions[name]
        return schema

    def understood(self, schema: dict[str, Any], path: str, *, root: bool = False) -> bool:
        """Whether ``schema`` uses only keywords the check understands (a problem naming the
        others, where the schema is first used, when it does not)."""
        return self.remembered(
            ("keywords", id(schema)), (schema,), lambda: self.keywords_understood(schema, path, root=root)
        )

    def keywords_understood(self, schema: dict[str, Any], path: str, *, root: bool) -> bool:
        unknown = sorted(set(schema) - _UNDERSTOOD_KEYWORDS - ({"$id"} if root else set()))
        if unknown:
            return self.refuse(
                f"{_where(path)}: the JSON schema uses {', '.join(unknown)}, which the registry cannot check "
                "against the Avro record; write it with the keywords docs/registry.md lists"
            )
        if "items" in schema and not isinstance(schema["items"], (dict, bool)):
            return self.refuse(f"{_where(path)}: the JSON schema's items must be one schema")
        return "allOf" not in schema or self.choice(schema, path) is not None

    def choice(self, schema: dict[str, Any], path: str) -> tuple[str, list[tuple[str, Any]]] | None:
        """The property and the (value, schema) branches of a choice by one property's value, as
        the xAPI schema writes it: ``allOf`` of ``if``/``then``. None (and a problem) for any
        other ``allOf``."""
        items = schema.get("allOf")
        branches = [_choice_branch(item) for item in items] if isinstance(items, list) and items else [None]
        keys = {branch[0] for branch in branches if branch is not None}
        if None in branches or len(keys) != 1:
            self.refuse(
                f"{_where(path)}: the JSON schema's allOf cannot be checked: the registry understands allOf only as "
                'a choice by one property\'s value, {"if": {"properties": {"objectType": {"const": "…"}}}, '
                '"then": …} for each value'
            )
            return None
        [key] = keys
        if key not in (schema.get("required") or []):
            self.refuse(f"{_where(path)}: a choice by {key} needs {key} among the required properties")
            return None
        if set(schema.get("properties") or {}) - {key} or "additionalProperties" in schema:
            self.refuse(
                f"{_where(path)}: beside a choice by {key}, the JSON schema may define only {key}; define the "
                "other properties in each branch"
            )
            return None
        return key, [(value, then) for branch in branches if branch is not None for _, value, then in [branch]]

    # --- Reading the Avro schema

    def named(self, avro_type: Any) -> Any:
        return self.definitions.get(avro_type, avro_type) if isinstance(avro_type, str) else avro_type

    def body(self, avro_type: Any) -> Any:
        """The definition of ``avro_type``: named types looked up, ``{"type": {...}}`` unwrapped."""
        resolved = self.named(avro_type)
        while isinstance(resolved, dict) and isinstance(resolved.get("type"), (dict, list)):
            resolved = self.named(resolved["type"])
        return resolved

    def kind_of(self, avro_type: Any) -> str:
        """``string``, ``long``, ``record``, ``enum``, ``union``... of ``avro_type``."""
        resolved = self.body(avro_type)
        if isinstance(resolved, list):
            return "union"
        return str(resolved.get("type") if isinstance(resolved, dict) else resolved)

    # --- Values into types

    def fit(
        self, schema: Any, avro_type: Any, *, path: str, depth: int, noun: str = "field", as_text: bool = False
    ) -> bool:
        """Whether every value ``schema`` admits can be written as ``avro_type``; ``as_text``:
        the edge writes a value that is not a string as its JSON text (xAPI extensions)."""
        if depth > MAX_NESTING:
            return self.refuse(f"{_where(path)}: the schemas nest more than {MAX_NESTING} levels deep")
        resolved = self.resolve(schema, path)
        if resolved is None:
            return False
        return self.remembered(
            ("fit", id(resolved), id(avro_type), as_text),
            (resolved, avro_type),
            lambda: self.fit_resolved(resolved, avro_type, path=path, depth=depth, noun=noun, as_text=as_text),
        )

    def fit_resolved(self, schema: Any, avro_type: Any, *, path: str, depth: int, noun: str, as_text: bool) -> bool:
        if schema is False:
            return True  # admits no value at all
        if isinstance(schema, dict) and not self.understood(schema, path):
            return False
        if as_text and self.kind_of(avro_type) == "string":
            return True
        kinds = _kinds(schema)
        if kinds >= _ANY_VALUE:
            return self.refuse(
                f"{_where(path)}: the JSON schema allows any JSON value here (it gives no type), which no Avro "
                "type can hold; give it a type"
            )
        branches = avro_type if isinstance(avro_type, list) else [avro_type]
        label = avro_type_label(avro_type)
        fits = True
        for kind in _KIND_ORDER:
            if kind in kinds:
                fits = self.fit_kind(kind, schema, branches, path=path, depth=depth, noun=noun, label=label) and fits
        return fits

    def fit_kind(
        self, kind: str, schema: dict[str, Any], branches: list[Any], *, path: str, depth: int, noun: str, label: str
    ) -> bool:
        where = _where(path)
        candidates = [branch for branch in branches if self.kind_of(branch) in _AVRO_CANDIDATES[kind]]
        if not candidates:
            return self.refuse(f"{where}: the JSON schema allows {_KIND_WORDS[kind]} but the Avro {noun} is {label}")
        if kind in ("null", "boolean"):
            return True
        if kind == "integer":
            return self.fit_integer(schema, candidates, where=where, noun=noun, label=label)
        if kind == "number":
            kinds = {self.kind_of(branch) for branch in candidates}
            if "double" in kinds:
                return True
            if "float" in kinds:
                return self.refuse(
                    f"{where}: the JSON schema allows numbers, which a 32-bit float does not hold exactly, but "
                    f"the Avro {noun} is {label}; use double"
                )
            return self.refuse(
                f"{where}: the JSON schema allows numbers with a fraction but the Avro {noun} is {label}"
            )
        if kind == "string":
            reasons = [self.string_reason(schema, branch) for branch in candidates]
            return None in reasons or self.refuse(f"{where}: {reasons[0]}")
        if kind == "array":
            [array] = candidates  # a union holds one array type at most
            items = schema.get("items", True)
            return self.fit(items, self.body(array)["items"], path=f"{path}[]", depth=depth + 1, noun="type")
        return self.fit_object(schema, candidates, path=path, depth=depth, noun=noun, label=label)

    def fit_integer(self, schema: dict[str, Any], candidates: list[Any], *, where: str, noun: str, label: str) -> bool:
        low, high = _integer_range(schema)
        kinds = {self.kind_of(branch) for branch in candidates}
        if "long" in kinds:
            return True  # the edge refuses integers past int64
        if "int" in kinds and low >= INT32_MIN and high <= INT32_MAX:
            return True
        if "double" in kinds and low >= -_DOUBLE_EXACT and high <= _DOUBLE_EXACT:
            return True
        if "int" in kinds:
            return self.refuse(f"{where}: the JSON schema allows integers beyond int32 but the Avro {noun} is {label}")
        if "double" in kinds:
            return self.refuse(
                f"{where}: the JSON schema allows integers beyond 2^53, which a double does not hold exactly, but "
                f"the Avro {noun} is {label}; use long"
            )
        return self.refuse(
            f"{where}: the JSON schema allows integers, which a 32-bit float does not hold exactly, but the Avro "
            f"{noun} is {label}; use int or long"
        )

    def string_reason(self, schema: dict[str, Any], branch: Any) -> str | None:
        """Why some string ``schema`` admits cannot be written as ``branch``; None when all can."""
        kind = self.kind_of(branch)
        if kind == "string":
            return None
        body = self.body(branch)
        name = avro_type_label(body.get("name"))
        if kind == "enum":
            symbols = body.get("symbols", [])
            values = _listed_values(schema)
            if values is None:
                return f"the JSON schema allows any string but the Avro enum {name} holds only {', '.join(symbols)}"
            missing = [value for value in values if isinstance(value, str) and value not in symbols]
            if missing:
                return f"the JSON schema allows {', '.join(map(repr, missing))}, which the Avro enum {name} lacks"
            return None
        if body.get("size") != _UUID_SIZE:
            return f"the JSON schema allows strings but the Avro type is the {body.get('size')}-byte fixed {name}"
        if schema.get("format") == "uuid":
            return None
        return (
            f"the JSON schema allows any string but the Avro type is the 16-byte fixed {name}, which holds "
            "only UUIDs: add format: uuid"
        )

    def fit_object(
        self, schema: dict[str, Any], candidates: list[Any], *, path: str, depth: int, noun: str, label: str
    ) -> bool:
        if "allOf" in schema:
            return self.fit_choice(schema, candidates, path=path, depth=depth, noun=noun, label=label)
        tried = []
        for candidate in candidates:
            kept = self.quietly()
            if self.kind_of(candidate) == "map":
                fits = self.fit_map(schema, self.body(candidate), path=path, depth=depth)
            else:
                fits = self.fit_record(schema, self.body(candidate), path=path, depth=depth)
            tried.append(self.restore(kept))
            if fits:
                return True
        if len(tried) > 1:
            self.refuse(
                f"{_where(path)}: the JSON schema's objects fit none of the records and maps of the Avro {noun} {label}"
            )
        for problems in tried:
            self.problems.extend(problems)
        return False

    def fit_map(self, schema: dict[str, Any], avro_map: dict[str, Any], *, path: str, depth: int) -> bool:
        values = avro_map["values"]
        # The edge writes the values of an xAPI statement's extensions that are not text as JSON text.
        as_text = self.xapi and path.rsplit(".", 1)[-1] == "extensions"
        prefix = f"{path}." if path else ""
        fits = True
        for name, property_schema in (schema.get("properties") or {}).items():
            where = f"{prefix}{name}"
            fits = self.fit(property_schema, values, path=where, depth=depth + 1, noun="type", as_text=as_text) and fits
        others = schema.get("additionalProperties", True)
        if others is not False:
            fits = self.fit(others, values, path=f"{prefix}*", depth=depth + 1, noun="type", as_text=as_text) and fits
        return fits

    def fit_record(
        self,
        schema: dict[str, Any],
        record: dict[str, Any],
        *,
        path: str,
        depth: int,
        pinned: tuple[str, str] | None = None,
    ) -> bool:
        """Whether the objects ``schema`` admits can be written as ``record`` (``pinned``: the
        property and value a choice's branch is for)."""
        return self.remembered(
            ("record", id(schema), str(record.get("name")), pinned),
            (schema,),
            lambda: self.fit_fields(schema, record, path=path, depth=depth, pinned=pinned),
        )

    def fit_fields(
        self, schema: dict[str, Any], record: dict[str, Any], *, path: str, depth: int, pinned: tuple[str, str] | None
    ) -> bool:
        properties = dict(schema.get("properties") or {})
        required = set(schema.get("required") or [])
        if pinned is not None:
            name, value = pinned
            properties.setdefault(name, {"const": value})
            required.add(name)
        others = schema.get("additionalProperties", True)
        prefix = f"{path}." if path else ""
        fields = [field for field in record.get("fields", []) if isinstance(field, dict)]
        fits = True
        for field in fields:
            name, avro_type = field["name"], field["type"]
            where = f"{prefix}{name}"
            # A key left out of the value: fastavro writes the field's default, or null.
            may_be_left_out = "default" in field or _admits_null(avro_type)
            if name in properties:
                fits = self.fit(properties[name], avro_type, path=where, depth=depth + 1) and fits
                if name not in required and not may_be_left_out:
                    fits = self.refuse(
                        f"{where}: the JSON schema lets clients leave it out, but the Avro field has no default and "
                        "cannot hold null"
                    )
                continue
            fits = self.undeclared(others, avro_type, path=where, depth=depth + 1) and fits
            if not may_be_left_out:
                fits = self.refuse(
                    f"{where}: no value the JSON schema defines fills it, but the Avro field has no default and "
                    "cannot hold null"
                )
        names = {field["name"] for field in fields}
        for name in properties:
            if name not in names:
                fits = self.refuse(
                    f"{prefix}{name}: the JSON schema defines it but the Avro record "
                    f"{avro_type_label(record.get('name'))} has no such field, so it would be lost"
                )
        return fits

    def undeclared(self, others: Any, avro_type: Any, *, path: str, depth: int) -> bool:
        """Whether the values ``additionalProperties`` admits under a field's name fit the field."""
        if others is False:
            return True
        if others is True or others == {}:
            return self.refuse(
                f"{path}: the JSON schema does not define it yet lets clients send it with any value (it does not "
                f"say additionalProperties: false), which the Avro field {avro_type_label(avro_type)} cannot hold"
            )
        return self.fit(others, avro_type, path=path, depth=depth)

    def fit_choice(
        self, schema: dict[str, Any], candidates: list[Any], *, path: str, depth: int, noun: str, label: str
    ) -> bool:
        parts = self.choice(schema, path)
        if parts is None:
            return False
        key, branches = parts
        discriminator = self.resolve((schema.get("properties") or {}).get(key, True), path)
        allowed = _listed_values(discriminator) if isinstance(discriminator, dict) else None
        fits = True
        for value in allowed or []:
            if value not in [chosen for chosen, _ in branches]:
                fits = self.refuse(
                    f"{_where(path)}: the JSON schema allows {key} {value!r} but no if/then branch says what such an "
                    "object holds"
                )
        records = [self.body(candidate) for candidate in candidates if self.kind_of(candidate) in ("record", "error")]
        for value, then in branches:
            if allowed is not None and value not in allowed:
                continue  # a branch no value reaches
            where = f"{path}[{value}]"
            takers = [record for record in records if self.takes(record, key, value)]
            if len(takers) != 1:
                names = " and ".join(avro_type_label(record["name"]) for record in takers)
                fits = self.refuse(
                    f"{where}: no record of the Avro {noun} {label} takes {key} {value!r}"
                    if not takers
                    else f"{where}: the Avro records {names} both take {key} {value!r}, so which one a value becomes "
                    "depends on its other fields; give each record an enum of its own values"
                )
                continue
            branch = self.resolve(then, where)
            if branch is None or (isinstance(branch, dict) and not self.understood(branch, where)):
                fits = False
            elif not isinstance(branch, dict):
                fits = self.refuse(f"{where}: each branch of a choice must be an object schema")
            else:
                fits = self.fit_record(branch, takers[0], path=where, depth=depth, pinned=(key, value)) and fits
        return fits

    def takes(self, record: dict[str, Any], key: str, value: str) -> bool:
        """Whether ``record``'s field ``key`` holds the text ``value``: an enum with that symbol, or text."""
        for field in record.get("fields", []):
            if isinstance(field, dict) and field.get("name") == key:
                branches = field["type"] if isinstance(field["type"], list) else [field["type"]]
                return any(
                    self.kind_of(branch) == "string"
                    or (self.kind_of(branch) == "enum" and value in self.body(branch).get("symbols", []))
                    for branch in branches
                )
        return False

    # --- The event's record

    def event(self, *, json_schema: Any, record: dict[str, Any]) -> None:
        """The record's fields against the payload: each is a property of the payload, a field the
        server sets, or a field no value fills, which the edge leaves null."""
        root = self.resolve(json_schema, "")
        if not isinstance(root, dict) or not self.understood(root, "", root=True):
            return
        if _kinds(root) != {"object"} or "allOf" in root:
            self.refuse("the JSON schema must describe an object (type: object) with properties")
            return
        properties = root.get("properties") or {}
        required = set(root.get("required") or [])
        if not self.xapi:
            self.envelope(properties, required)
        for field in record.get("fields", []):
            name, avro_type = field["name"], field["type"]
            label = avro_type_label(avro_type)
            # The edge writes every field of the record: what no value fills is null, not left out.
            if not self.xapi and name in SERVER_FIELDS:
                self.server_field(name, avro_type)
            elif not self.xapi and name in CONSUMED_FIELDS:
                if not _admits_null(avro_type):
                    self.refuse(
                        f"{name}: the server reads {name} and never writes it into the record, which holds null "
                        f"there, but the Avro field is {label}"
                    )
            elif name in properties:
                self.fit(properties[name], avro_type, path=name, depth=1)
                if name not in required and not _admits_null(avro_type):
                    self.refuse(
                        f"{name}: clients may leave it out (the JSON schema does not require it), and the record "
                        f"then holds null, but the Avro field is {label}"
                    )
            else:
                if self.xapi:
                    # A statement's record takes each of its keys that names a field.
                    self.undeclared(root.get("additionalProperties", True), avro_type, path=name, depth=1)
                if not _admits_null(avro_type):
                    self.refuse(
                        f"{name}: no value clients send fills it, so the record holds null there, but the Avro "
                        f"field is {label}"
                    )

    def envelope(self, properties: Mapping[str, Any], required: set[str]) -> None:
        """What the edge reads of every event by key, and the fields only the server may set."""
        for name in sorted(set(properties) & set(SERVER_FIELDS)):
            self.refuse(
                f"{name}: the server sets this field, so the JSON schema must not define it (clients could set it "
                "themselves)"
            )
        for name in ENVELOPE_FIELDS:
            if name not in required or name not in properties:
                self.refuse(f"{name}: the server reads it from every event, so the JSON schema must require it")
                continue
            schema = self.resolve(properties[name], name)
            if schema is None:
                continue
            if _kinds(schema) != {"string"}:
                self.refuse(f"{name}: the server reads it as text, so the JSON schema must allow strings only")
            elif name in _CLOCKS and (not isinstance(schema, dict) or schema.get("format") != "date-time"):
                self.refuse(
                    f"{name}: the server reads it as an RFC 3339 date-time, so the JSON schema must say "
                    "format: date-time"
                )

    def server_field(self, name: str, avro_type: Any) -> None:
        values, words = _SERVER_VALUES[name]
        label = avro_type_label(avro_type)
        if name == "occurred_at":
            branches = avro_type if isinstance(avro_type, list) else [avro_type]
            fits = any(
                isinstance(body := self.body(branch), dict)
                and body.get("type") == "long"
                and body.get("logicalType") == "timestamp-millis"
                for branch in branches
            )
        else:
            kept = self.quietly()
            fits = self.fit(values, avro_type, path=name, depth=1)
            self.restore(kept)
        if not fits:
            self.refuse(f"{name}: the server writes {words} there, which the Avro field {label} cannot hold")


def record_fit_problems(*, json_schema: Any, avro_schema: str | Mapping[str, Any], full_name: str) -> list[str]:
    """Why the JSON schema ``json_schema`` and the Avro record ``avro_schema`` (both valid, the
    record free of recursive types: ``avro_type_problems`` first) cannot make a revision of the
    event type ``full_name``; each reason names its path and what is wrong."""
    parsed = _parsed_record(avro_schema)
    check = _Fit(json_root=json_schema, parsed_avro=parsed, xapi=full_name == XAPI_STATEMENT)
    check.event(json_schema=json_schema, record=parsed)
    problems = list(dict.fromkeys(check.problems))
    if len(problems) > MAX_REASONS:
        problems = [*problems[:MAX_REASONS], f"… and {len(problems) - MAX_REASONS} more"]
    return problems
