"""xAPI statements sent with their attachments' data: the parts of a ``multipart/mixed`` request
read as xAPI 1.0.3 has them written (Communication 1.5.2, Data 2.4.11), in LRS mode.

The first part holds the statements (``application/json``: one statement or an array); each further
part one attachment's raw data, with ``Content-Transfer-Encoding: binary`` and ``X-Experience-API-Hash``
naming the SHA-2 of the data, which is how an LRS matches it to the attachments whose ``sha2`` it is
(and no other way). The data is hashed here: a part whose bytes are not what its hash says is
refused, so what reaches Kafka is the data the statement's ``sha2`` names.

Pure: no Django, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventcapture.exceptions import ErrorDetail, MalformedRequest, clipped
from eventcapture.parsing import BodyPart, json_parse

SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"
SIGNATURE_CONTENT_TYPE = "application/octet-stream"
# The SHA-2 functions xAPI allows for ``sha2`` (Data 2.4.11; Communication 1.5.2 recommends the last
# three), by the length of their hex digest; the JSON schema allows these lengths only.
_SHA2_BY_HEX_LENGTH: dict[int, Callable[[bytes], Any]] = {
    56: hashlib.sha224,
    64: hashlib.sha256,
    96: hashlib.sha384,
    128: hashlib.sha512,
}
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class StatementsSent:
    """What an xAPI write sent: the statements' JSON (one statement or an array of them, unchecked)
    and the data of the attachments it carried, by SHA-2 (lower-case hex)."""

    statements: Any
    attachments: Mapping[str, bytes]


def _part_problem(number: int, message: str) -> MalformedRequest:
    return MalformedRequest(details=[ErrorDetail("malformed_request", message, None, f"parts.{number}")])


def _one_header(part: BodyPart, name: str, number: int) -> str | None:
    values = part.headers.get(name.lower(), [])
    if len(values) > 1:
        raise _part_problem(number, f"part {number} has {len(values)} {name} headers: one is allowed")
    return values[0].strip() if values else None


def _attachment_hashes(statements: Any) -> set[str]:
    """The ``sha2`` of every attachment of the statements (and of their sub-statements), lower case;
    what is not of the shape of a statement is left for validation to refuse."""
    hashes: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        target = statement.get("object")
        for holder in (statement, target if isinstance(target, dict) else {}):
            attachments = holder.get("attachments")
            for attachment in attachments if isinstance(attachments, list) else ():
                sha2 = attachment.get("sha2") if isinstance(attachment, dict) else None
                if isinstance(sha2, str):
                    hashes.add(sha2.lower())
    return hashes


def _attachment_part(part: BodyPart, number: int) -> tuple[str, bytes]:
    """The SHA-2 (lower case) and data of an attachment's part, checked."""
    claimed = _one_header(part, "X-Experience-API-Hash", number)
    if claimed is None:
        if part.content_type == "application/json":
            raise _part_problem(
                number,
                f"part {number} is JSON without an X-Experience-API-Hash header: every statement belongs in the "
                "first part, each further part is an attachment's data",
            )
        raise _part_problem(number, f"part {number} has no X-Experience-API-Hash header (an attachment's SHA-2)")
    encoding = _one_header(part, "Content-Transfer-Encoding", number)
    if encoding is None or encoding.lower() != "binary":
        shown = "none" if encoding is None else repr(clipped(encoding, 40))
        raise _part_problem(number, f"part {number}: Content-Transfer-Encoding must be binary (it is {shown})")
    digest = _SHA2_BY_HEX_LENGTH.get(len(claimed))
    if digest is None or _HEX.fullmatch(claimed) is None:
        raise _part_problem(
            number,
            f"part {number}: X-Experience-API-Hash {clipped(claimed, 140)!r} is not a hex SHA-224, SHA-256, SHA-384 "
            "or SHA-512",
        )
    actual = digest(part.data).hexdigest()
    claimed = claimed.lower()
    if actual != claimed:
        raise _part_problem(
            number,
            f"part {number}: its data's SHA-2 is {actual}, not the {claimed} its X-Experience-API-Hash says",
        )
    return claimed, part.data


def statements_multipart_read(*, parts: Sequence[BodyPart], max_depth: int) -> StatementsSent:
    """The statements and attachments' data of a ``multipart/mixed`` xAPI write; ``MalformedRequest``
    (400) for a request xAPI does not allow: a first part that is not ``application/json`` or not
    JSON, a further part without ``X-Experience-API-Hash`` (statements split over several parts
    included) or without ``Content-Transfer-Encoding: binary``, data whose SHA-2 is not the one its
    part names, or a part whose hash is the ``sha2`` of no attachment of the statements."""
    if not parts:
        raise MalformedRequest("The multipart body holds no part: the first part must hold the statements")
    first, *others = parts
    if first.content_type != "application/json":
        raise _part_problem(
            0, f"the first part must be application/json, holding the statements (it is {first.content_type!r})"
        )
    statements = json_parse(first.data, max_depth=max_depth, what="The first part (the statements)")
    attachments: dict[str, bytes] = {}
    numbered: list[tuple[int, str]] = []
    for number, part in enumerate(others, start=1):
        sha2, data = _attachment_part(part, number)
        # Statements sent together may share an attachment: its data comes once (and twice is the same data).
        attachments.setdefault(sha2, data)
        numbered.append((number, sha2))
    named = _attachment_hashes(statements)
    extra = [(number, sha2) for number, sha2 in numbered if sha2 not in named]
    if extra:
        raise MalformedRequest(
            details=[
                ErrorDetail(
                    "malformed_request",
                    f"part {number}: no attachment of the statements has the sha2 {sha2} (its X-Experience-API-Hash)",
                    None,
                    f"parts.{number}",
                )
                for number, sha2 in extra
            ]
        )
    return StatementsSent(statements=statements, attachments=attachments)


def attachments_of(statement: Mapping[str, Any], *, own: bool = False) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every attachment of a schema-valid statement and (unless ``own``) of its sub-statement, with
    its path (``attachments.0``, ``object.attachments.1``) and its ``sha2`` in lower case. What is
    of another shape (revision 1's open schema lets some through) is skipped."""
    target = statement.get("object")
    holders: list[tuple[str, Any]] = [("", statement)]
    if not own and isinstance(target, dict) and target.get("objectType") == "SubStatement":
        holders.append(("object.", target))
    for prefix, holder in holders:
        attachments = holder.get("attachments")
        for position, attachment in enumerate(attachments if isinstance(attachments, list) else ()):
            sha2 = attachment.get("sha2") if isinstance(attachment, dict) else None
            if isinstance(sha2, str):
                yield f"{prefix}attachments.{position}", attachment, sha2.lower()


def is_signature(attachment: Mapping[str, Any]) -> bool:
    """Whether an attachment is a statement's signature (Data 2.6)."""
    return attachment.get("usageType") == SIGNATURE_USAGE


def media_type(content_type: str) -> str:
    """A content type without its parameters, lower case."""
    return content_type.split(";", 1)[0].strip().lower()
