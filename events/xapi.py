"""The statements endpoint as an xAPI 1.0.3 Learning Record Store answers it, for requests that
carry ``X-Experience-API-Version`` (every xAPI client sends it; requests without it keep the
service's own contract, events/services.py ``statements_accept``).

On write an LRS completes a statement before it checks it: it assigns a missing ``id``, fills in the
``objectType`` xAPI lets clients leave out (an actor, instructor, authority or group member is an
Agent, an object or context activity an Activity), makes a lone context activity a list of one, sets
``stored`` and, when absent, ``timestamp`` and ``version``. The completed statement is what is
validated, queued and produced to Kafka, and its ``id`` is the record's key and the id answered.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from eventcapture.exceptions import (
    ErrorDetail,
    EventsInvalid,
    MalformedRequest,
    StatementIdConflict,
    XapiVersionUnsupported,
)
from events.services import (
    PreparedBatch,
    prepared_enqueue,
    statement_schema_errors,
    statement_version,
    statements_batch,
    too_many,
)

XAPI_VERSION = "1.0.3"
VERSION_HEADER = "X-Experience-API-Version"
# What an LRS of 1.0.3 accepts, in the header and in a statement's ``version``: any 1.0.x.
_SUPPORTED_VERSION = re.compile(r"1\.0(\.(0|[1-9][0-9]*))?")
# A UUID in its standard text form (RFC 4122), either case.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The version a statement without one is stored with (xAPI 1.0.3, Data 2.4.10).
_DEFAULT_STATEMENT_VERSION = "1.0.0"
_CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")


def xapi_version_check(*, header: str) -> None:
    """``XapiVersionUnsupported`` unless ``header`` names an xAPI 1.0.x version."""
    if _SUPPORTED_VERSION.fullmatch(header.strip()) is None:
        shown = header if len(header) <= 40 else f"{header[:40]}…"
        raise XapiVersionUnsupported(
            f"X-Experience-API-Version {shown!r} is not supported: this LRS speaks xAPI 1.0.x ({XAPI_VERSION})"
        )


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _actor(actor: Any, *, default: str | None = "Agent") -> Any:
    """An Agent or Group with its ``objectType`` (``default`` when absent), its members Agents."""
    if not isinstance(actor, dict):
        return actor
    completed = {**actor}
    # An actor with members is a Group, and xAPI has a Group say so itself: it is not made an Agent
    # that would lose them.
    if default is not None and "member" not in completed:
        completed.setdefault("objectType", default)
    members = completed.get("member")
    if completed.get("objectType") == "Group" and isinstance(members, list):
        completed["member"] = [_actor(member) for member in members]
    return completed


def _activity(activity: Any) -> Any:
    if isinstance(activity, dict) and "objectType" not in activity:
        return {**activity, "objectType": "Activity"}
    return activity


def _object(target: Any) -> Any:
    """A statement's or sub-statement's object: an Activity when it names no ``objectType``."""
    if not isinstance(target, dict):
        return target
    completed = _activity(target)
    kind = completed["objectType"]
    if kind in ("Agent", "Group"):
        return _actor(completed)
    if kind == "SubStatement":
        return _statement_body(completed)
    return completed


def _context(context: Any) -> Any:
    if not isinstance(context, dict):
        return context
    completed = {**context}
    if "instructor" in completed:
        completed["instructor"] = _actor(completed["instructor"])
    if "team" in completed:
        # A team is a Group: it must say so itself, its members need not.
        completed["team"] = _actor(completed["team"], default=None)
    activities = completed.get("contextActivities")
    if isinstance(activities, dict):
        listed = {**activities}
        for kind in _CONTEXT_ACTIVITY_KINDS:
            value = listed.get(kind)
            if isinstance(value, dict):
                # xAPI 1.0.3 allows one Activity where a list is expected; an LRS stores the list.
                value = [value]
            if isinstance(value, list):
                listed[kind] = [_activity(activity) for activity in value]
        completed["contextActivities"] = listed
    return completed


def _statement_body(statement: dict[str, Any]) -> dict[str, Any]:
    """What a statement and a sub-statement share: actor, object, context."""
    completed = {**statement}
    if "actor" in completed:
        completed["actor"] = _actor(completed["actor"])
    if "object" in completed:
        completed["object"] = _object(completed["object"])
    if "context" in completed:
        completed["context"] = _context(completed["context"])
    return completed


def statement_complete(statement: Any, *, statement_id: str, stored: str) -> Any:
    """``statement`` as an LRS stores it: ``statement_id`` when it has no ``id``, the objectType
    defaults, ``stored`` set, ``timestamp`` (``stored``) and ``version`` (1.0.0) when absent. What
    is not an object is left for validation to refuse."""
    if not isinstance(statement, dict):
        return statement
    completed = _statement_body(statement)
    completed.setdefault("id", statement_id)
    if "authority" in completed:
        completed["authority"] = _actor(completed["authority"])
    completed["stored"] = stored
    completed.setdefault("timestamp", stored)
    completed.setdefault("version", _DEFAULT_STATEMENT_VERSION)
    return completed


def _lrs_problems(*, index: int, statement: Any, first_index_of: dict[str, int]) -> list[ErrorDetail]:
    """What xAPI asks of a statement beyond the schema: a UUID ``id``, unique in the batch, and a
    1.0.x ``version``."""
    if not isinstance(statement, dict):
        return []
    problems = []
    statement_id = statement.get("id")
    if isinstance(statement_id, str):
        if not _is_uuid(statement_id):
            problems.append(ErrorDetail("invalid_format", "id: not a UUID", index, "statement.id"))
        else:
            first = first_index_of.setdefault(statement_id.lower(), index)
            if first != index:
                message = f"id: statement [{first}] of this request has the same id"
                problems.append(ErrorDetail("invalid_value", message, index, "statement.id"))
    version = statement.get("version")
    if isinstance(version, str) and _SUPPORTED_VERSION.fullmatch(version) is None:
        message = f"version: {version!r} is not an xAPI 1.0.x version"
        problems.append(ErrorDetail("invalid_value", message, index, "statement.version"))
    return problems


def lrs_statements_prepare(*, statements: Sequence[Any], received_at: datetime) -> PreparedBatch:
    """Complete every statement as an LRS does, then validate all of them: ``EventsInvalid`` lists
    every problem of every statement when any is invalid (nothing is queued)."""
    if len(statements) > settings.MAX_EVENTS_PER_REQUEST:
        raise too_many(len(statements))
    version = statement_version()
    stored = _timestamp(received_at)
    completed = [
        statement_complete(statement, statement_id=str(uuid.uuid4()), stored=stored) for statement in statements
    ]
    problems: list[ErrorDetail] = []
    first_index_of: dict[str, int] = {}
    for index, statement in enumerate(completed):
        problems.extend(_lrs_problems(index=index, statement=statement, first_index_of=first_index_of))
        problems.extend(statement_schema_errors(index=index, version=version, statement=statement))
    if problems:
        raise EventsInvalid(details=problems)
    return statements_batch(version=version, statements=completed)


def lrs_statements_post(*, statements: Sequence[Any], received_at: datetime) -> list[str]:
    """``POST statements``: the statements' ids, in request order, once all of them are durably
    queued (all or nothing)."""
    batch = lrs_statements_prepare(statements=statements, received_at=received_at)
    prepared_enqueue(batch)
    return [event.key for event in batch.events]


def lrs_statement_put(*, statement: Any, statement_id: str | None, received_at: datetime) -> str:
    """``PUT statements?statementId=…``: one statement, stored under ``statement_id``; its id, once
    durably queued. A statement with another UUID as its ``id`` is a conflict (409)."""
    if statement_id is None:
        raise MalformedRequest(
            details=[ErrorDetail("malformed_request", "the statementId parameter is required", None, "statementId")]
        )
    if not _is_uuid(statement_id):
        raise MalformedRequest(
            details=[ErrorDetail("malformed_request", "the statementId parameter is not a UUID", None, "statementId")]
        )
    if not isinstance(statement, dict):
        raise MalformedRequest("The body of a PUT must be one xAPI Statement object")
    own_id = statement.get("id")
    # Another UUID is a conflict; an id that is no UUID at all is refused by validation (422).
    if _is_uuid(own_id) and uuid.UUID(own_id) != uuid.UUID(statement_id):
        raise StatementIdConflict(
            details=[
                ErrorDetail(
                    "statement_id_conflict",
                    "the statement's id differs from the statementId parameter",
                    0,
                    "statement.id",
                )
            ]
        )
    identified = statement if own_id is not None else {**statement, "id": statement_id}
    [stored_id] = lrs_statements_post(statements=[identified], received_at=received_at)
    return stored_id
