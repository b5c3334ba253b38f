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
