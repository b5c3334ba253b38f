"""What the property tests of "accepted means readable" share: Hypothesis strategies for events of
each active revision (generated from its JSON schema, with the edges pushed in), and the check
that a queued record comes back from Avro as it went in."""

from __future__ import annotations

import io
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from kafka_bridge.encoding import Encoder, confluent_frame_split

# Envelope fields the edge reads by key: generated here rather than from the schema, so that most
# events are valid and the values reach the edges of what the edge takes.
ENVELOPE = ("type", "client_clock_occurred_at", "client_clock_sent_at", "source_uri", "session_uuid")
_EXACT = 2**53

# Text of every plane (what UTF-8 encodes: no lone surrogates): non-BMP letters and symbols,
# combining marks, NUL and other controls.
text = st.text(st.characters(codec="utf-8"), max_size=12)


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    """A date-time of any year from 1 to 9999, in the spellings RFC 3339 allows."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    offset = draw(st.sampled_from([None, timedelta(0), timedelta(hours=14), timedelta(hours=-12, minutes=-30)]))
    digits = draw(st.sampled_from([0, 3, 6]))
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    # strftime pads years before 1000 on this platform only with %Y of 4 digits; make sure.
    base = f"{moment.year:04d}{base[base.index('-') :]}"
    fraction = f".{moment.microsecond:06d}"[: digits + 1] if digits else ""
    if offset is None:
        zone = draw(st.sampled_from(["Z", "z"]))
    else:
        total = int(offset.total_seconds() // 60)
        sign = "+" if total >= 0 else "-"
        zone = f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
    separator = draw(st.sampled_from(["T", "T", "t"]))
    return f"{base[:10]}{separator}{base[11:]}{fraction}{zone}"


_URL_SAFE = st.text(st.sampled_from("abcxyzABC019-._~"), min_size=1, max_size=8)


@st.composite
def source_uri(draw: st.DrawFn) -> str:
    """An absolute http(s) URL, its path and query percent-encoded UTF-8 of any plane."""
    from urllib.parse import quote

    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    host = draw(st.sampled_from(["openstax.org", "localhost:8000", "[::1]", "xn--80ak6aa92e.com"]))
    path = "/".join(quote(part, safe="") for part in draw(st.lists(text, max_size=3)))
    query = draw(
        st.one_of(
            st.none(),
            st.just(""),
            st.lists(st.tuples(text, st.one_of(st.none(), text)), max_size=4).map(
                lambda pairs: "&".join(
                    quote(key, safe="") if value is None else f"{quote(key, safe='')}={quote(value, safe='')}"
                    for key, value in pairs
                )
            ),
        )
    )
    return f"{scheme}://{host}/{path}" + ("" if query is None else f"?{query}")


uuids = st.uuids().flatmap(lambda value: st.sampled_from([str(value), str(value).upper()]))


def _floated(value: Any, flags: list[bool]) -> Any:
    """``value`` with some of its integers written as the floats many JSON writers make of them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) <= _EXACT and flags:
        return float(value) if flags.pop() else value
    if isinstance(value, dict):
        return {key: _floated(item, flags) for key, item in value.items()}
    if isinstance(value, list):
        return [_floated(item, flags) for item in value]
    return value


def events(json_schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Events of one revision of a catalogue type: its own fields from its JSON schema (nested
    records may carry keys the schema does not define), the envelope from the strategies above,
    some integers sent as floats, and now and then a key the schema does not know."""
    properties = json_schema["properties"]
    required = set(json_schema.get("required", []))
    formats = {"uuid": uuids}
    own = {
        name: from_schema(schema, custom_formats=formats) for name, schema in properties.items() if name not in ENVELOPE
    }
    envelope = {
        "type": st.just(properties["type"]["const"]),
        "client_clock_occurred_at": rfc3339(),
        "client_clock_sent_at": rfc3339(),
        "source_uri": source_uri(),
        "session_uuid": uuids,
    }
    fields = st.fixed_dictionaries(
        {**envelope, **{name: strategy for name, strategy in own.items() if name in required}},
        optional={
            **{name: strategy for name, strategy in own.items() if name not in required},
            "unknown_extra": text,
        },
    )
    return st.tuples(fields, st.lists(st.booleans(), max_size=8)).map(lambda pair: _floated(pair[0], pair[1]))


# --- xAPI statements --------------------------------------------------------------------------------
# Built from xAPI 1.0.3's data model rather than with hypothesis-jsonschema: from the statement
# schema's size, look-ahead patterns and choices by objectType it draws an example in seconds, and
# rarely one the rules beyond the schema (one identifier per Agent, raw within min and max) accept.

_IRIS = st.sampled_from(
    [
        "http://adlnet.gov/expapi/verbs/completed",
        "https://openstax.org/books/physics/pages/1-intro?a=1&b=%20#part",
        "urn:x-openstax:activity:42",
        "https://example.com/ü/𝄞/😀",
        "tag:example.com,2026:thing",
    ]
)
_TAGS = st.sampled_from(["en-US", "en", "fr-CA", "zh-Hant-TW", "es-419", "x-openstax", "i-klingon"])
_HEX = "0123456789abcdef"
_language_maps = st.dictionaries(_TAGS, text, min_size=1, max_size=3)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
_extensions = st.dictionaries(_IRIS, _json_values, max_size=3)
_timestamps = st.sampled_from(
    [
        "2026-12-05T08:04:49.123Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999+14:00",
        "2008-09-15T15:53:00.601-05:30",
        "20080915T155300Z",
        "2026-12-05T08:04",
    ]
)
_durations = st.sampled_from(["PT4.55S", "P1W", "P1Y2M3DT4H5M6S", "PT0S", "P0.5D"])


def _optional(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {name: value if isinstance(value, st.SearchStrategy) else st.just(value) for name, value in required.items()},
        optional=optional,
    )


_account = st.fixed_dictionaries({"homePage": _IRIS, "name": text.filter(bool)})
_identifiers = st.one_of(
    st.builds(lambda name: {"mbox": f"mailto:{name}@example.edu"}, st.sampled_from(["ada", "grace", "o.brien"])),
    st.builds(
        lambda digits: {"mbox_sha1sum": "".join(digits)}, st.lists(st.sampled_from(_HEX), min_size=40, max_size=40)
    ),
    st.builds(lambda iri: {"openid": iri}, _IRIS),
    st.builds(lambda account: {"account": account}, _account),
)


def _agent(*, object_type: bool | None = None) -> st.SearchStrategy[dict[str, Any]]:
    named = _optional({}, {"name": text})
    kind = st.booleans() if object_type is None else st.just(object_type)
    return st.builds(
        lambda base, identifier, typed: {**base, **identifier, **({"objectType": "Agent"} if typed else {})},
        named,
        _identifiers,
        kind,
    )


_anonymous_groups = _optional(
    {"objectType": "Group", "member": st.lists(_agent(), min_size=1, max_size=3)}, {"name": text}
)
_identified_groups = st.builds(
    lambda base, identifier: {**base, **identifier},
    _optional({"objectType": "Group"}, {"name": text, "member": st.lists(_agent(), max_size=2)}),
    _identifiers,
)
_groups = _anonymous_groups | _identified_groups
_actors = _agent() | _groups


@st.composite
def _definitions(draw: st.DrawFn) -> dict[str, Any]:
    definition = draw(
        _optional(
            {},
            {
                "name": _language_maps,
                "description": _language_maps,
                "type": _IRIS,
                "moreInfo": _IRIS,
                "extensions": _extensions,
            },
        )
    )
    if draw(st.booleans()):
        ids = draw(st.lists(text.filter(bool), min_size=1, max_size=3, unique=True))
        components = [{"id": one, **({"description": {"en-US": one}} if draw(st.booleans()) else {})} for one in ids]
        kind = draw(st.sampled_from(["choice", "sequencing", "likert", "matching", "performance"]))
        lists = {"choice": ["choices"], "sequencing": ["choices"], "likert": ["scale"]}.get(
            kind, ["source", "target"] if kind == "matching" else ["steps"]
        )
        definition.update(
            {"interactionType": kind, "correctResponsesPattern": [ids[0]], **dict.fromkeys(lists, components)}
        )
    return definition or {"type": "http://adlnet.gov/expapi/activities/assessment"}


_activities = st.builds(
    lambda iri, typed, definition: {
        "id": iri,
        **({"objectType": "Activity"} if typed else {}),
        **({"definition": definition} if definition else {}),
    },
    _IRIS,
    st.booleans(),
    st.none() | _definitions(),
)
_statement_refs = st.builds(lambda value: {"objectType": "StatementRef", "id": str(value)}, st.uuids())


@st.composite
def _scores(draw: st.DrawFn) -> dict[str, Any]:
    numbers = st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6, allow_nan=False)
    low, high = sorted([draw(numbers), draw(numbers)])
    if low == high:
        high = low + 1
    raw = draw(st.floats(low, high, allow_nan=False)) if draw(st.booleans()) else low
    chosen = {"min": low, "max": high, "raw": raw, "scaled": draw(st.floats(-1, 1) | st.sampled_from([-1, 0, 1]))}
    keys = draw(st.lists(st.sampled_from(sorted(chosen)), min_size=1, unique=True))
    score = {key: chosen[key] for key in keys}
    if "raw" in score:  # raw within whichever bounds are there
        score["raw"] = min(max(score["raw"], score.get("min", score["raw"])), score.get("max", score["raw"]))
    return score


_results = _optional(
    {},
    {
        "score": _scores(),
        "success": st.booleans(),
        "completion": st.booleans(),
        "response": text,
        "duration": _durations,
        "extensions": _extensions,
    },
).filter(bool)
_activity_lists = st.lists(_activities, min_size=1, max_size=2) | _activities


def _contexts(*, activity_object: bool) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, Any] = {
        "registration": st.uuids().map(str),
        "instructor": _actors,
        "team": _groups,
        "contextActivities": _optional(
            {}, {kind: _activity_lists for kind in ("parent", "grouping", "category", "other")}
        ).filter(bool),
        "language": _TAGS,
        "statement": _statement_refs,
        "extensions": _extensions,
    }
    if activity_object:
        optional.update({"revision": text, "platform": text})
    return _optional({}, optional).filter(bool)


_attachments = st.fixed_dictionaries(
    {
        "usageType": _IRIS,
        "display": _language_maps,
        "contentType": st.sampled_from(["text/plain", "application/pdf", "image/png; charset=binary"]),
        "length": st.integers(0, 2**31 - 1) | st.sampled_from([0.0, 27.0, 2147483647.0]),
        "sha2": st.lists(st.sampled_from(_HEX), min_size=64, max_size=64).map("".join),
        "fileUrl": _IRIS,
    },
    optional={"description": _language_maps},
)


@st.composite
def _statement_parts(draw: st.DrawFn, *, sub: bool) -> dict[str, Any]:
    objects = [_activities, _agent(object_type=True), _groups, _statement_refs]
    if not sub:
        objects.append(_sub_statements())
    target = draw(st.one_of(objects))
    # Every object but an Activity names its objectType (xAPI requires it of them).
    is_activity = target.get("objectType", "Activity") == "Activity"
    parts = draw(
        _optional(
            {
                "actor": _actors,
                "verb": _optional({"id": _IRIS}, {"display": _language_maps}),
                "object": st.just(target),
            },
            {
                "result": _results,
                "context": _contexts(activity_object=is_activity),
                "timestamp": _timestamps,
                "attachments": st.lists(_attachments, min_size=1, max_size=2),
            },
        )
    )
    return parts


def _sub_statements() -> st.SearchStrategy[dict[str, Any]]:
    return _statement_parts(sub=True).map(lambda parts: {"objectType": "SubStatement", **parts})


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    """xAPI 1.0.3 statements of every shape (Agents and Groups as actor, object and authority,
    sub-statements, interaction components, all four context activity kinds, extension values of
    every JSON type), some integers sent as floats."""
    statement = draw(_statement_parts(sub=False))
    extra = draw(
        _optional(
            {},
            {
                "id": st.uuids().map(str),
                "authority": _agent(object_type=True)
                | st.fixed_dictionaries(
                    {"objectType": st.just("Group"), "member": st.lists(_agent(), min_size=2, max_size=2)}
                ),
                "version": st.sampled_from(["1.0.0", "1.0.3", "1.0"]),
            },
        )
    )
    floated: dict[str, Any] = _floated({**statement, **extra}, draw(st.lists(st.booleans(), max_size=8)))
    return floated


# --- Avro, as the worker writes it and a consumer reads it ------------------------------------------


def encoded(*, avro_schema: dict[str, Any], schema_id: int, record: dict[str, Any]) -> bytes:
    """The Kafka value the worker produces for ``record`` (its own encoder)."""
    return Encoder(schema=avro_schema, schema_id=schema_id).encode(record)


def decoded(*, avro_schema: dict[str, Any], value: bytes) -> Any:
    """``value`` read back as confluent-kafka's AvroDeserializer reads it (fastavro, writer schema)."""
    _, datum = confluent_frame_split(value)
    return fastavro.schemaless_reader(io.BytesIO(datum), fastavro.parse_schema(avro_schema))


def differences(sent: Any, read: Any, path: str = "") -> list[str]:
    """Where the value read back differs from the queued one (empty: the same values). A 16-byte
    fixed reads back as bytes (the UUID the text names), a timestamp-millis as a datetime (the
    instant the milliseconds name), a double as a float equal to the number queued; a key the record
    holds and the reader does not is a value lost."""
    where = path or "the record"
    if isinstance(read, bytes) and len(read) == 16 and isinstance(sent, str):
        return [] if uuid.UUID(sent).bytes == read else [f"{where}: UUID {sent!r} read back as {uuid.UUID(bytes=read)}"]
    if isinstance(read, datetime):
        millis = (read - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
        return [] if millis == sent else [f"{where}: {sent!r} read back as {read.isoformat()}"]
    if isinstance(read, dict):
        if not isinstance(sent, dict):
            return [f"{where}: {sent!r} read back as a record or map"]
        found = [f"{path}.{key}: lost" if path else f"{key}: lost" for key in sent if key not in read]
        for key, item in read.items():
            inner = f"{path}.{key}" if path else str(key)
            if key not in sent:
                if item is not None:
                    found.append(f"{inner}: absent, read back as {item!r}")
                continue
            found.extend(differences(sent[key], item, inner))
        return found
    if isinstance(read, list):
        if not isinstance(sent, list) or len(sent) != len(read):
            return [f"{where}: {sent!r} read back as {read!r}"]
        return [
            problem
            for index, pair in enumerate(zip(sent, read, strict=True))
            for problem in differences(*pair, f"{where}[{index}]")
        ]
    if isinstance(read, float):
        same = type(sent) is float and (sent == read or (math.isnan(sent) and math.isnan(read)))
        return [] if same else [f"{where}: {sent!r} read back as {read!r}"]
    if type(sent) is not type(read) or sent != read:
        return [f"{where}: {sent!r} read back as {read!r}"]
    return []
