"""Accepting a batch of events: validate against the registry, enrich, queue durably."""

from __future__ import annotations

import base64
import itertools
import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from django.conf import settings

from eventcapture import metrics
from eventcapture.exceptions import (
    ErrorDetail,
    EventsInvalid,
    MalformedRequest,
    PayloadTooLarge,
    XapiMediaTypeUnsupported,
    clipped,
)
from events.enrichment import (
    SourceUri,
    epoch_microseconds,
    occurred_at_millis,
    rfc3339_epoch_microseconds,
    source_uri_split,
)
from events.identity import Identity
from events.xapi_attachments import attachments_of
from events.xapi_signatures import signature_problems
from events.xapi_statements import statement_complete, statement_record, statement_rule_problems, timestamp_text
from kafka_bridge.encoding import Encoder, EncodingError
from kafka_bridge.queue import QueuedEvent, batch_enqueue
from registry.conform import TIMESTAMP_MILLIS_RANGE, Outcome
from registry.generator import CONSUMED_FIELDS, SERVER_FIELDS
from registry.record_fit import XAPI_STATEMENT as XAPI_STATEMENT  # re-exported: its home is the registry
from registry.selectors import EventVersion, event_version_get

# Never an event's own: envelope fields that select or derive server fields, and the fields the
# server sets. The registry refuses JSON schemas that define the latter; a revision published
# before it did must not let clients set them either.
_NOT_OWN_FIELDS = CONSUMED_FIELDS | frozenset(SERVER_FIELDS)
_EARLIEST_MILLIS, _LATEST_MILLIS = TIMESTAMP_MILLIS_RANGE
# An event type not looked up yet in this request (None: looked up, and not active).
_UNSEEN: Any = object()


@dataclass(frozen=True)
class AcceptedBatch:
    ids: list[str]
    warnings: list[str]


def batch_parse(body: Any) -> list[dict[str, Any]]:
    """The ``data`` objects of a ``{"events": [{"data": {...}}, ...]}`` body."""
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object")
    events = body.get("events")
    if not isinstance(events, list):
        raise MalformedRequest("The request body must have an `events` list")
    # Before any item is looked at: a small body can hold hundreds of thousands of them.
    if len(events) > settings.MAX_EVENTS_PER_REQUEST:
        raise too_many(len(events))
    payloads = []
    problems = []
    for index, item in enumerate(events):
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            problems.append(
                ErrorDetail("malformed_request", "an event must be an object with a `data` object", index, "data")
            )
        else:
            payloads.append(item["data"])
    if problems:
        raise MalformedRequest(details=problems)
    return payloads


def too_many(count: int) -> EventsInvalid:
    limit = settings.MAX_EVENTS_PER_REQUEST
    message = f"a request may hold at most {limit} events, got {count}"
    return EventsInvalid(details=[ErrorDetail("too_many_events", message, None, "events")])


# Errors of a value (or, for PropertyNames, a key) against a ``pattern`` of the schema.
_FORMAT_KINDS = frozenset({"Pattern", "PropertyNames"})


def _quoted(value: Any) -> str:
    text = orjson.dumps(value).decode() if isinstance(value, str) else repr(value)
    return clipped(text, 100)


def _pattern_name(error: Any) -> str:
    """What a pattern stands for: the ``$defs`` entry or the property whose ``pattern`` it is."""
    path = [str(part) for part in error.schema_path]
    named = [part for keyword, part in itertools.pairwise(path) if keyword in ("$defs", "properties")]
    return named[-1] if named else "value"


def _schema_errors(*, index: int, version: EventVersion, data: Any, root: str = "data") -> list[ErrorDetail]:
    """Every way ``data`` breaks its version's JSON schema (callers ask ``is_valid`` first: it is
    several times faster, and almost every event is valid)."""
    details: list[ErrorDetail] = []
    for error in version.validator.iter_errors(data):
        kind = type(error.kind).__name__
        location = [root, *(str(part) for part in error.instance_path)]
        if kind == "Required":
            location.append(str(error.kind.property))
            code, message = "required", f"{error.kind.property} is required"
        elif kind in _FORMAT_KINDS:
            # A pattern is a format the schema spells out (a timestamp, a language tag): named by
            # its definition or property, not quoted (a regular expression says little to a client).
            code = "invalid_format"
            where = ".".join(location[1:]) or root
            # PropertyNames: the key (its own error's instance) is what is wrong, not the object.
            wrong = f"key {_quoted(error.kind.error.instance)}" if kind == "PropertyNames" else _quoted(error.instance)
            message = f"{where}: {wrong} is not a valid {_pattern_name(error)}"
        else:
            code = {"Type": "invalid_type", "Format": "invalid_format", "AdditionalProperties": "unknown_field"}.get(
                kind, "invalid_value"
            )
            message = f"{'.'.join(location[1:]) or root}: {error.message}"
        details.append(ErrorDetail(code, message, index, ".".join(location), version.full_name))
    return details


def event_ids(count: int) -> list[str]:
    """``count`` new event ids: random (version 4) UUIDs as text, from one read of the system's
    randomness (``uuid.uuid4`` reads it once per id, and costs four times as much)."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(byte & 0x0F | 0x40 for byte in raw[6::16])  # version 4
    raw[8::16] = bytes(byte & 0x3F | 0x80 for byte in raw[8::16])  # RFC 4122 variant
    text = raw.hex()
    return [
        f"{text[at : at + 8]}-{text[at + 8 : at + 12]}-{text[at + 12 : at + 16]}-{text[at + 16 : at + 20]}-"
        f"{text[at + 20 : at + 32]}"
        for at in range(0, 32 * count, 32)
    ]


_T = TypeVar("_T")


def _parsed(cache: dict[str, _T | str], parse: Callable[[str], _T], value: str) -> _T | str:
    """``parse(value)``, or the message of the ValueError it raised, kept in ``cache``: each
    distinct value is parsed once."""
    try:
        parsed: _T | str = parse(value)
    except ValueError as exc:
        parsed = str(exc)
    cache[value] = parsed
    return parsed


@lru_cache(maxsize=1024)
def _own_fields(known_fields: frozenset[str], record_fields: tuple[str, ...]) -> tuple[str, ...]:
    """The record fields an event brings itself: those its JSON schema defines, but for the
    envelope and the server's fields. An unknown one is dropped even when the Avro record has a
    field of that name (interacted_element's context_state_change is always null)."""
    return tuple(name for name in record_fields if name in known_fields and name not in _NOT_OWN_FIELDS)


def record_conform(
    *, version: EventVersion, record: dict[str, Any], index: int, root: str, outcome: Outcome, warnings: list[str]
) -> list[ErrorDetail]:
    """Conform ``record`` to its Avro schema in place (registry/conform.py: integral floats made
    integers, numbers and times checked against what Avro and every reader hold, keys nested records
    do not define dropped): the problems that refuse the event; a warning for each dropped key.
    ``outcome`` is shared by the events of a request (emptied here)."""
    conform = version.conform
    if conform is None:
        return []
    conform(record, outcome)
    if not outcome.problems and not outcome.dropped:
        return []  # almost every event
    problems = [
        ErrorDetail(problem.code, problem.message, index, f"{root}.{problem.path}", version.full_name)
        for problem in outcome.problems
    ]
    warnings.extend(f"Event [{index}]: unknown field {path!r} was dropped" for path in outcome.dropped)
    outcome.problems.clear()
    outcome.dropped.clear()
    return problems


def _millis_text(millis: int) -> str:
    return "0001-01-01T00:00:00.000Z" if millis == _EARLIEST_MILLIS else "9999-12-31T23:59:59.999Z"


class _Records:
    """The Kafka records of one request's valid events, JSON-safe (UUIDs as text; the encoder
    makes bytes): each event's own fields, and the fields the server adds. Each distinct client
    value is parsed once (the events of a batch mostly share their page and their send time)."""

    def __init__(self, *, identity: Identity, received_at: datetime, warnings: list[str]) -> None:
        self.identity = identity
        self.received = epoch_microseconds(received_at)
        # The request's warnings, in event order, which a clamped occurred_at adds to.
        self.warnings = warnings
        self._clocks: dict[str, int | str] = {}
        self._sources: dict[str, SourceUri | str] = {}
        # Per revision and page: a record with every field but the event's own filled in.
        self._templates: dict[tuple[int, str], tuple[dict[str, Any], tuple[str, ...]]] = {}
        # The last event's, looked up first: a batch's events mostly come from one page.
        self._last_version: EventVersion | None = None
        self._last_source: str | None = None
        self._last_template: tuple[dict[str, Any], tuple[str, ...]] = ({}, ())

    def record(self, *, index: int, version: EventVersion, data: dict[str, Any]) -> dict[str, Any] | list[ErrorDetail]:
        """The record of a schema-valid event, or what JSON Schema could not say is wrong with the
        values the server's fields derive from."""
        # The caches looked up inline: this runs once per event, and a call costs as much as a lookup.
        clocks = self._clocks
        occurred_text, sent_text = data["client_clock_occurred_at"], data["client_clock_sent_at"]
        occurred = clocks.get(occurred_text)
        if occurred is None:
            occurred = _parsed(clocks, rfc3339_epoch_microseconds, occurred_text)
        sent = clocks.get(sent_text)
        if sent is None:
            sent = _parsed(clocks, rfc3339_epoch_microseconds, sent_text)
        source_text = data["source_uri"]
        source = self._sources.get(source_text)
        if source is None:
            source = _parsed(self._sources, source_uri_split, source_text)
        if isinstance(occurred, str) or isinstance(sent, str) or isinstance(source, str):
            problems = []
            for name, parsed in (("client_clock_occurred_at", occurred), ("client_clock_sent_at", sent)):
                if isinstance(parsed, str):
                    problems.append(
                        ErrorDetail("invalid_format", f"{name}: {parsed}", index, f"data.{name}", version.full_name)
                    )
            if isinstance(source, str):
                problems.append(
                    ErrorDetail("invalid_format", f"source_uri: {source}", index, "data.source_uri", version.full_name)
                )
            return problems
        if version is self._last_version and source_text == self._last_source:
            template, own_fields = self._last_template  # the page and version of the event before
        else:
            template, own_fields = self._last_template = self._template(version, source_text, source)
            self._last_version, self._last_source = version, source_text
        record = template.copy()
        if "occurred_at" in record:
            millis = occurred_at_millis(occurred=occurred, sent=sent, received=self.received)
            if not _EARLIEST_MILLIS <= millis <= _LATEST_MILLIS:
                millis = self._occurred_at_clamped(index, millis)
            record["occurred_at"] = millis
        for name in own_fields:
            if name in data:
                record[name] = data[name]
        return record

    def _occurred_at_clamped(self, index: int, millis: int) -> int:
        """The clock-skew corrected time ``millis``, past the dates every reader can decode (years
        1-9999: fastavro's reader, and so confluent-kafka's AvroDeserializer, turns a
        timestamp-millis into a datetime, and stops at a record past them), clamped to them. Only
        clocks years apart get there; the event is kept, with a warning, rather than refused with
        the batch, and the clamped value says in the data itself that its clock was wrong."""
        clamped = min(max(millis, _EARLIEST_MILLIS), _LATEST_MILLIS)
        side = "before" if millis < _EARLIEST_MILLIS else "after"
        self.warnings.append(
            f"Event [{index}]: occurred_at (client_clock_occurred_at corrected by the difference between "
            f"client_clock_sent_at and the time the server received it) falls {side} "
            f"{_millis_text(clamped)}, beyond what consumers can read; it was set to {_millis_text(clamped)}"
        )
        return clamped

    def _template(
        self, version: EventVersion, source_uri: str, source: SourceUri
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """A record of ``version`` for an event of this page, every field but the event's own
        filled in, and the names of the event's own."""
        key = (version.schema_id, source_uri)
        cached = self._templates.get(key)
        if cached is None:
            server = {
                "device_uuid": self.identity.device_uuid,
                "user_uuid": self.identity.user_uuid,
                "scheme": source.scheme,
                "host": source.host,
                "path": source.path,
                "query": source.query,
                "ip_address": self.identity.ip_address,
                "user_agent": self.identity.user_agent,
                "occurred_at": None,
            }
            template = {name: server.get(name) for name in version.record_fields}
            cached = self._templates[key] = (template, _own_fields(version.known_fields, version.record_fields))
        return cached


@dataclass(frozen=True)
class PreparedBatch:
    events: list[QueuedEvent]
    warnings: list[str]
    # Events per registry event type, for the accepted-events metric.
    type_counts: dict[str, int]


def batch_prepare(
    *, events: Sequence[dict[str, Any]], identity: Identity, received_at: datetime, body_bytes: int | None = None
) -> PreparedBatch:
    """Validate every event and build its Kafka record; ``EventsInvalid`` lists every problem of
    every event when any is invalid. Mints the event ids (here, at the edge: a retried task
    produces the same records)."""
    if len(events) > settings.MAX_EVENTS_PER_REQUEST:
        raise too_many(len(events))
    warnings: list[str] = []
    records = _Records(identity=identity, received_at=received_at, warnings=warnings)
    versions: dict[str, EventVersion | None] = {}
    problems: list[ErrorDetail] = []
    accepted: list[tuple[int, str, dict[str, Any]]] = []
    type_counts: Counter[str] = Counter()
    outcome = Outcome()
    for index, data in enumerate(events):
        event_type = data.get("type")
        version = None
        if isinstance(event_type, str):
            version = versions.get(event_type, _UNSEEN)
            if version is _UNSEEN:
                version = versions[event_type] = event_version_get(full_name=event_type)
        if version is None:
            problems.append(
                ErrorDetail(
                    "unknown_event_type", f"type {event_type!r} is not an active event type", index, "data.type"
                )
            )
            continue
        if not version.validator.is_valid(data):
            problems.extend(_schema_errors(index=index, version=version, data=data))
            continue
        record = records.record(index=index, version=version, data=data)
        if isinstance(record, list):
            problems.extend(record)
            continue
        if version.conform is not None:
            refused = record_conform(
                version=version, record=record, index=index, root="data", outcome=outcome, warnings=warnings
            )
            if refused:
                problems.extend(refused)
                continue
        if not version.known_fields.issuperset(data):
            unknown = sorted(set(data) - version.known_fields)
            warnings.extend(f"Event [{index}]: unknown field {name!r} was dropped" for name in unknown)
        if not problems:
            accepted.append((version.schema_id, data["session_uuid"], record))
            type_counts[version.full_name] += 1
    if problems:
        raise EventsInvalid(details=problems)
    queued = [
        QueuedEvent(event_id, schema_id, key, record)  # named, not unpacked: a third cheaper
        for event_id, (schema_id, key, record) in zip(event_ids(len(accepted)), accepted, strict=True)
    ]
    by_schema = {version.schema_id: version for version in versions.values() if version is not None}
    problems = records_too_large(events=queued, versions=by_schema, body_bytes=body_bytes, root="data")
    if problems:
        raise EventsInvalid(details=problems)
    return PreparedBatch(events=queued, warnings=warnings, type_counts=dict(type_counts))


# How much larger than its JSON an event's Avro record can grow: a double written `0,` takes 8 bytes,
# an absent optional field 1 (and the server adds its own fields, below). Bodies at most
# (KAFKA_MESSAGE_MAX_BYTES - _SERVER_BYTES) / _GROWTH long cannot hold a record past the limit, so
# only larger ones (rare) have their records measured.
_GROWTH = 8
# What the server adds to a record (a User-Agent header of up to 8 KiB, the address, identities),
# its key and headers, and Kafka's own framing of a record: generously.
_SERVER_BYTES = 64 * 1024
_size_encoders: dict[int, Encoder] = {}


def records_too_large(
    *, events: Sequence[QueuedEvent], versions: dict[int, EventVersion], body_bytes: int | None, root: str
) -> list[ErrorDetail]:
    """The events (in request order) whose Kafka record would pass ``KAFKA_MESSAGE_MAX_BYTES``, which
    the producer could never send: measured by encoding them, only when the body (``body_bytes``,
    None: unknown) is large enough to hold one."""
    limit = settings.KAFKA_MESSAGE_MAX_BYTES
    if body_bytes is not None and body_bytes * _GROWTH + _SERVER_BYTES <= limit:
        return []
    problems = []
    for index, event in enumerate(events):
        version = versions[event.schema_id]
        encoder = _size_encoders.get(event.schema_id)
        if encoder is None:
            encoder = _size_encoders[event.schema_id] = Encoder(schema=version.avro_schema, schema_id=event.schema_id)
        try:
            value = encoder.encode(event.record)
        except EncodingError:
            continue  # not for the edge to judge: the worker keeps it as a dead letter, with its reason
        headers = len(event.event_id) + len(version.full_name) + len("event_id") + len("event_type")
        size = len(value) + len(event.key.encode()) + headers
        # librdkafka counts a record's framing too (a few dozen bytes): kept clear of with a margin.
        if size + 1024 > limit:
            message = f"its Kafka record would be {size:,} bytes; at most {limit - 1024:,} are allowed"
            problems.append(ErrorDetail("event_too_large", message, index, root, version.full_name))
    return problems


def prepared_enqueue(batch: PreparedBatch) -> AcceptedBatch:
    """Queue a prepared batch durably (returns once Redis has it; ``QueueUnavailable`` else)."""
    if batch.events:
        batch_enqueue(events=batch.events)
        metrics.events_accepted(counts=batch.type_counts)
    return AcceptedBatch(ids=[event.event_id for event in batch.events], warnings=batch.warnings)


def events_accept(
    *, events: Sequence[dict[str, Any]], identity: Identity, received_at: datetime, body_bytes: int | None = None
) -> AcceptedBatch:
    """Validate every event, then queue all of them together (in one task, perhaps with other
    requests' batches), or none (all-or-nothing). ``body_bytes``: the request body's size, which
    bounds how large its events' records can be."""
    return prepared_enqueue(
        batch_prepare(events=events, identity=identity, received_at=received_at, body_bytes=body_bytes)
    )


def statements_parse(body: Any) -> list[Any]:
    """The statements of an xAPI body: one Statement object, or an array of them."""
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        if len(body) > settings.MAX_EVENTS_PER_REQUEST:
            raise too_many(len(body))
        return body
    raise MalformedRequest("The request body must be an xAPI Statement object or an array of them")


def statement_version() -> EventVersion:
    """The active revision of the xAPI statement type; ``EventsInvalid`` when there is none."""
    version = event_version_get(full_name=XAPI_STATEMENT)
    if version is None:
        raise EventsInvalid(
            details=[ErrorDetail("unknown_event_type", f"{XAPI_STATEMENT} is not an active event type", None, None)]
        )
    return version


def statements_problems(
    *,
    version: EventVersion,
    statements: Sequence[Any],
    distinct_ids: bool = False,
    data_hashes: Collection[str] = frozenset(),
) -> list[ErrorDetail]:
    """Every way completed ``statements`` break xAPI 1.0.3: the registry's JSON schema, then (for a
    statement the schema accepts) the rules JSON Schema cannot say, and with ``distinct_ids`` (an
    LRS) two statements of one request with the same id. ``data_hashes``: the SHA-2 (lower case) of
    the attachments' data the request carries. None for almost every request."""
    problems: list[ErrorDetail] = []
    first_index_of: dict[str, int] = {}
    for index, statement in enumerate(statements):
        # is_valid first: several times faster than collecting errors, and almost every statement is valid.
        if not version.validator.is_valid(statement):
            problems.extend(_schema_errors(index=index, version=version, data=statement, root="statement"))
            continue
        problems.extend(
            statement_rule_problems(
                index=index, statement=statement, event_type=version.full_name, data_hashes=data_hashes
            )
        )
        first = first_index_of.setdefault(statement["id"].lower(), index) if distinct_ids else index
        if first != index:
            message = f"id: statement [{first}] of this request has the same id"
            problems.append(ErrorDetail("invalid_value", message, index, "statement.id", version.full_name))
    return problems


def statements_batch(
    *, version: EventVersion, statements: Sequence[dict[str, Any]], contents: Mapping[str, str] | None = None
) -> PreparedBatch | list[ErrorDetail]:
    """The queued events of valid, completed statements: each keyed by its ``id``, its record
    ``statement_record``'s (with every top-level field of the revision's record, and the data of
    its attachments: ``contents``, base64 by SHA-2), conformed to the revision's Avro schema
    (``record_conform``: an attachment's ``length`` sent as ``27.0``, a score an integer); or what
    no record of it could hold."""
    queued = []
    problems: list[ErrorDetail] = []
    warnings: list[str] = []
    outcome = Outcome()
    for index, (event_id, statement) in enumerate(zip(event_ids(len(statements)), statements, strict=True)):
        record = statement_record(statement, contents=contents)
        fields = {name: record.get(name) for name in version.record_fields}
        if version.conform is not None:
            problems.extend(
                record_conform(
                    version=version, record=fields, index=index, root="statement", outcome=outcome, warnings=warnings
                )
            )
        queued.append(QueuedEvent(event_id, version.schema_id, statement["id"], fields))
    if problems:
        return problems
    return PreparedBatch(events=queued, warnings=warnings, type_counts={version.full_name: len(queued)})


def _carries_content(avro_schema: Mapping[str, Any]) -> bool:
    """Whether a revision's record has a place for an attachment's data (``Attachment.content``,
    since revision 2): revision 1, active until ``load_schemas`` publishes revision 2, has none.
    Walked only for requests that carry data (a few hundred microseconds)."""
    level: list[Any] = [avro_schema]
    while level:
        children: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                if node.get("type") == "record" and node.get("name") in ("Attachment", "org.adlnet.xapi.Attachment"):
                    return any(field.get("name") == "content" for field in node.get("fields", ()))
                children.extend(node.values())
            elif isinstance(node, list):
                children.extend(node)
        level = children
    return False


def _attachment_contents(
    *, version: EventVersion, statements: Sequence[dict[str, Any]], attachments: Mapping[str, bytes]
) -> dict[str, str]:
    """The data of the request's attachments as the records carry it (base64 text, by SHA-2), once
    checked that the records can hold it: every statement carries its own copy of an attachment it
    shares with others (xAPI has its data sent once), so together they may carry at most
    ``MAX_REQUEST_BYTES`` of data, as much as one request holds; past that, 413."""
    if not attachments:
        return {}
    if not _carries_content(version.avro_schema):
        raise XapiMediaTypeUnsupported(
            f"The active revision of {version.full_name} has no place for an attachment's data: send attachments "
            "by fileUrl, as application/json"
        )
    carried = sum(
        len(attachments.get(sha2, b"")) for statement in statements for _, _, sha2 in attachments_of(statement)
    )
    if carried > settings.MAX_REQUEST_BYTES:
        raise PayloadTooLarge(
            f"The statements would carry {carried:,} bytes of attachment data (each its own copy of an attachment "
            f"it shares), more than the {settings.MAX_REQUEST_BYTES:,} a request may hold"
        )
    return {sha2: base64.b64encode(data).decode("ascii") for sha2, data in attachments.items()}


def statements_prepare(
    *,
    statements: Sequence[Any],
    received_at: datetime,
    refusal: type[EventsInvalid] = EventsInvalid,
    distinct_ids: bool = False,
    body_bytes: int | None = None,
    attachments: Mapping[str, bytes] | None = None,
) -> PreparedBatch:
    """Complete every statement as an xAPI LRS does (``statement_complete``), then validate all of
    them; ``refusal`` (422 ``EventsInvalid`` for the service's own contract, 400 for an LRS-mode
    request) lists every problem of every statement when any is invalid, and nothing is queued.
    ``distinct_ids``: two statements of the request may not share an id (an LRS refuses them; the
    service's own contract has always taken them, each a record of its own). ``attachments``: the
    data of attachments the request carried (multipart/mixed, LRS mode), by SHA-2 (lower case):
    signatures among them are checked (events/xapi_signatures.py), and each attachment's data
    reaches its record."""
    if len(statements) > settings.MAX_EVENTS_PER_REQUEST:
        raise too_many(len(statements))
    attachments = attachments or {}
    version = statement_version()
    stored = timestamp_text(received_at)
    completed = [
        statement_complete(statement, statement_id=statement_id, stored=stored)
        for statement, statement_id in zip(statements, event_ids(len(statements)), strict=True)
    ]
    problems = statements_problems(
        version=version, statements=completed, distinct_ids=distinct_ids, data_hashes=frozenset(attachments)
    )
    if not problems and attachments:
        for index, (statement, complete) in enumerate(zip(statements, completed, strict=True)):
            problems.extend(
                signature_problems(
                    index=index,
                    statement=statement,
                    completed=complete,
                    attachments=attachments,
                    event_type=version.full_name,
                    max_depth=settings.MAX_JSON_DEPTH,
                )
            )
    if problems:
        raise refusal(details=problems)
    contents = _attachment_contents(version=version, statements=completed, attachments=attachments)
    batch = statements_batch(version=version, statements=completed, contents=contents)
    if isinstance(batch, list):
        raise refusal(details=batch)
    too_large = records_too_large(
        events=batch.events, versions={version.schema_id: version}, body_bytes=body_bytes, root="statement"
    )
    if too_large:
        raise refusal(details=too_large)
    return batch


def statements_accept(
    *, statements: Sequence[Any], received_at: datetime, body_bytes: int | None = None
) -> AcceptedBatch:
    """Complete and validate every statement, then queue all of them as one task, or none."""
    return prepared_enqueue(statements_prepare(statements=statements, received_at=received_at, body_bytes=body_bytes))
