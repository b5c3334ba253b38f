"""Accepting a batch of events: validate against the registry, enrich, queue durably."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from eventcapture import metrics
from eventcapture.exceptions import ErrorDetail, EventsInvalid, MalformedRequest
from events.enrichment import occurred_at_millis, rfc3339_parse, source_uri_split
from events.identity import Identity
from kafka_bridge.services import QueuedEvent, batch_enqueue
from registry.selectors import EventVersion, event_version_get

# Envelope fields clients send that select or derive server fields and never reach Kafka as such.
_CONSUMED_FIELDS = ("type", "client_clock_occurred_at", "client_clock_sent_at", "source_uri")


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


def _queued(*, version: EventVersion, key: str, record: dict[str, Any]) -> QueuedEvent:
    # The event id is minted here, at the edge: a retried task produces the same records.
    return QueuedEvent(event_id=str(uuid.uuid4()), schema_id=version.schema_id, key=key, record=record)


def _too_many(count: int) -> EventsInvalid:
    limit = settings.MAX_EVENTS_PER_REQUEST
    message = f"a request may hold at most {limit} events, got {count}"
    return EventsInvalid(details=[ErrorDetail("too_many_events", message, None, "events")])


def _schema_errors(*, index: int, version: EventVersion, data: Any, root: str = "data") -> list[ErrorDetail]:
    details = []
    for error in version.validator.iter_errors(data):
        kind = type(error.kind).__name__
        location = [root, *(str(part) for part in error.instance_path)]
        if kind == "Required":
            location.append(str(error.kind.property))
            code, message = "required", f"{error.kind.property} is required"
        else:
            code = {"Type": "invalid_type", "Format": "invalid_format", "AdditionalProperties": "unknown_field"}.get(
                kind, "invalid_value"
            )
            message = f"{'.'.join(location[1:]) or root}: {error.message}"
        details.append(ErrorDetail(code, message, index, ".".join(location), version.full_name))
    return details


def _record(
    *, version: EventVersion, data: dict[str, Any], identity: Identity, received_at: datetime
) -> dict[str, Any]:
    """The Kafka record of one valid event, JSON-safe (UUIDs as text; the encoder makes bytes)."""
    source = source_uri_split(data["source_uri"])
    server_fields: dict[str, Any] = {
        "device_uuid": identity.device_uuid,
        "user_uuid": identity.user_uuid,
        "scheme": source.scheme,
        "host": source.host,
        "path": source.path,
        "query": source.query,
        "ip_address": identity.ip_address,
        "user_agent": identity.user_agent,
        "occurred_at": occurred_at_millis(
            occurred=rfc3339_parse(data["client_clock_occurred_at"]),
            sent=rfc3339_parse(data["client_clock_sent_at"]),
            received=received_at,
        ),
    }
    # Only fields the JSON schema defines: an unknown one is dropped even when the Avro record has
    # a field of that name (interacted_element's context_state_change is always null).
    payload = {key: value for key, value in data.items() if key in version.known_fields and key not in _CONSUMED_FIELDS}
    return {name: payload.get(name, server_fields.get(name)) for name in version.record_fields}


def _derivation_errors(*, index: int, data: dict[str, Any], event_type: str) -> list[ErrorDetail]:
    """Checks that JSON Schema cannot express: the values the server derives fields from."""
    details = []
    for name in ("client_clock_occurred_at", "client_clock_sent_at"):
        try:
            rfc3339_parse(data[name])
        except ValueError as exc:
            details.append(ErrorDetail("invalid_format", f"{name}: {exc}", index, f"data.{name}", event_type))
    try:
        source_uri_split(data["source_uri"])
    except ValueError as exc:
        details.append(ErrorDetail("invalid_format", f"source_uri: {exc}", index, "data.source_uri", event_type))
    return details


@dataclass(frozen=True)
class PreparedBatch:
    events: list[QueuedEvent]
    warnings: list[str]
    # Events per registry event type, for the accepted-events metric.
    type_counts: dict[str, int]


def batch_prepare(*, events: Sequence[dict[str, Any]], identity: Identity, received_at: datetime) -> PreparedBatch:
    """Validate every event and build its Kafka record; ``EventsInvalid`` lists every problem of
    every event when any is invalid. Mints the event ids."""
    if len(events) > settings.MAX_EVENTS_PER_REQUEST:
        raise _too_many(len(events))
    problems: list[ErrorDetail] = []
    warnings: list[str] = []
    accepted: list[tuple[EventVersion, dict[str, Any]]] = []
    for index, data in enumerate(events):
        event_type = data.get("type")
        version = event_version_get(full_name=event_type) if isinstance(event_type, str) else None
        if version is None:
            problems.append(
                ErrorDetail(
                    "unknown_event_type", f"type {event_type!r} is not an active event type", index, "data.type"
                )
            )
            continue
        errors = _schema_errors(index=index, version=version, data=data)
        problems.extend(errors or _derivation_errors(index=index, data=data, event_type=version.full_name))
        unknown = sorted(set(data) - version.known_fields)
        warnings.extend(f"Event [{index}]: unknown field {name!r} was dropped" for name in unknown)
        accepted.append((version, data))
    if problems:
        raise EventsInvalid(details=problems)
    queued = [
        _queued(
            version=version,
            key=data["session_uuid"],
            record=_record(version=version, data=data, identity=identity, received_at=received_at),
        )
        for version, data in accepted
    ]
    type_counts = Counter(version.full_name for version, _ in accepted)
    return PreparedBatch(events=queued, warnings=warnings, type_counts=dict(type_counts))


def _batch_enqueue(batch: PreparedBatch) -> AcceptedBatch:
    if batch.events:
        batch_enqueue(events=batch.events)
        metrics.events_accepted(counts=batch.type_counts)
    return AcceptedBatch(ids=[event.event_id for event in batch.events], warnings=batch.warnings)


def events_accept(*, events: Sequence[dict[str, Any]], identity: Identity, received_at: datetime) -> AcceptedBatch:
    """Validate every event, then queue all of them as one task, or none (all-or-nothing)."""
    return _batch_enqueue(batch_prepare(events=events, identity=identity, received_at=received_at))


XAPI_STATEMENT = "org.adlnet.xapi.Statement"


def statements_parse(body: Any) -> list[Any]:
    """The statements of an xAPI body: one Statement object, or an array of them."""
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        return body
    raise MalformedRequest("The request body must be an xAPI Statement object or an array of them")


def statements_prepare(*, statements: Sequence[Any]) -> PreparedBatch:
    """Validate every statement against the registry's xAPI schema; ``EventsInvalid`` lists every
    problem when any is invalid. Statements are stored as sent: no server fields are added, and
    each keeps its ``objectType``, so a Group stays a Group in Avro."""
    if len(statements) > settings.MAX_EVENTS_PER_REQUEST:
        raise _too_many(len(statements))
    version = event_version_get(full_name=XAPI_STATEMENT)
    if version is None:
        raise EventsInvalid(
            details=[ErrorDetail("unknown_event_type", f"{XAPI_STATEMENT} is not an active event type", None, None)]
        )
    problems: list[ErrorDetail] = []
    for index, statement in enumerate(statements):
        problems.extend(_schema_errors(index=index, version=version, data=statement, root="statement"))
    if problems:
        raise EventsInvalid(details=problems)
    queued = [
        _queued(
            version=version,
            key=statement["id"],
            record={name: statement.get(name) for name in version.record_fields},
        )
        for statement in statements
    ]
    return PreparedBatch(events=queued, warnings=[], type_counts={version.full_name: len(queued)})


def statements_accept(*, statements: Sequence[Any]) -> AcceptedBatch:
    """Validate every statement, then queue all of them as one task, or none."""
    return _batch_enqueue(statements_prepare(statements=statements))
