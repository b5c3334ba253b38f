"""The statements endpoint as an xAPI 1.0.3 Learning Record Store answers it, for requests that
carry ``X-Experience-API-Version`` (every xAPI client sends it; requests without it keep the
service's own contract, events/services.py ``statements_accept``).

Both complete and validate statements the same way (events/xapi_statements.py: an LRS completes a
statement before it checks it, and every requirement of xAPI 1.0.3 a statement can break is
checked); what differs here is how an LRS answers: 200 with the ids for a POST, 204 for a PUT, 400
Bad Request for an invalid statement or request, 409 for a PUT whose statement has another id; and
that an LRS reads ``multipart/mixed`` too: statements with their attachments' data
(events/xapi_attachments.py), signed statements among them (events/xapi_signatures.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eventcapture.exceptions import (
    ErrorDetail,
    MalformedRequest,
    StatementIdConflict,
    StatementsInvalid,
    XapiVersionUnsupported,
)
from eventcapture.parsers import MultipartBody
from events.services import prepared_enqueue, statements_prepare
from events.xapi_attachments import StatementsSent, media_type, statements_multipart_read

XAPI_VERSION = "1.0.3"
VERSION_HEADER = "X-Experience-API-Version"
# What an LRS of 1.0.3 accepts in the header: any 1.0.x.
_SUPPORTED_VERSION = re.compile(r"1\.0(\.(0|[1-9][0-9]*))?")
# A UUID in its standard text form (RFC 4122), either case.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The query parameters a write of the statement resource knows (xAPI 1.0.3, Communication 2.1.1 and
# 2.1.2); an LRS refuses any other with 400 (Communication 3.2).
_PUT_PARAMETERS = frozenset({"statementId"})
_POST_PARAMETERS: frozenset[str] = frozenset()


def xapi_version_check(*, header: str) -> None:
    """``XapiVersionUnsupported`` unless ``header`` names an xAPI 1.0.x version."""
    if _SUPPORTED_VERSION.fullmatch(header.strip()) is None:
        shown = header if len(header) <= 40 else f"{header[:40]}…"
        raise XapiVersionUnsupported(
            f"X-Experience-API-Version {shown!r} is not supported: this LRS speaks xAPI 1.0.x ({XAPI_VERSION})"
        )


def _parameters_check(*, parameters: Mapping[str, Any], known: frozenset[str]) -> None:
    """``MalformedRequest`` naming the query parameters a statement write does not know."""
    unknown = sorted(set(parameters) - known)
    if unknown:
        shown = ", ".join(repr(name if len(name) <= 40 else f"{name[:40]}…") for name in unknown[:5])
        raise MalformedRequest(
            details=[ErrorDetail("malformed_request", f"unknown query parameters: {shown}", None, "query")]
        )


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def statements_sent(body: Any, *, content_type: str, lrs: bool, max_depth: int) -> StatementsSent:
    """What a statements write sent: a JSON body's statements, or (``lrs``: a request with the
    version header) a ``multipart/mixed`` body's statements and attachments' data
    (events/xapi_attachments.py)."""
    if isinstance(body, MultipartBody):
        return statements_multipart_read(parts=body.parts, max_depth=max_depth)
    if lrs and media_type(content_type) == "multipart/mixed":
        # DRF hands an empty body to no parser.
        raise MalformedRequest("The multipart body is empty: its first part must hold the statements")
    return StatementsSent(statements=body, attachments={})


def lrs_statements_post(
    *,
    statements: Sequence[Any],
    parameters: Mapping[str, Any],
    received_at: datetime,
    body_bytes: int | None = None,
    attachments: Mapping[str, bytes] | None = None,
) -> list[str]:
    """``POST statements``: the statements' ids, in request order, once all of them are durably
    queued (all or nothing); any problem is a 400. ``attachments``: the data of attachments sent
    with them (multipart/mixed), by SHA-2."""
    _parameters_check(parameters=parameters, known=_POST_PARAMETERS)
    batch = statements_prepare(
        statements=statements,
        received_at=received_at,
        refusal=StatementsInvalid,
        distinct_ids=True,
        body_bytes=body_bytes,
        attachments=attachments,
    )
    prepared_enqueue(batch)
    return [event.key for event in batch.events]


def lrs_statement_put(
    *,
    statement: Any,
    statement_id: str | None,
    parameters: Mapping[str, Any],
    received_at: datetime,
    body_bytes: int | None = None,
    attachments: Mapping[str, bytes] | None = None,
) -> str:
    """``PUT statements?statementId=…``: one statement (and the data of its attachments, by
    SHA-2), stored under ``statement_id``; its id, once durably queued. A statement with another
    UUID as its ``id`` is a conflict (409)."""
    _parameters_check(parameters=parameters, known=_PUT_PARAMETERS)
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
    # Another UUID is a conflict; an id that is no UUID at all is refused by validation (400).
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
    [stored_id] = lrs_statements_post(
        statements=[identified],
        parameters={},
        received_at=received_at,
        body_bytes=body_bytes,
        attachments=attachments,
    )
    return stored_id
