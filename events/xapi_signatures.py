"""Signed statements (xAPI 1.0.3, Data 2.6): what an LRS must check of a statement's signature
before it stores it. Pure: no Django, no I/O.

A signature is an attachment of the statement with the usageType ``…/attachments/signature``, whose
data (sent with the statement, multipart/mixed) is a JSON Web Signature. An LRS must reject (400) a
statement whose signature is malformed (Data 2.6.s5), which it finds out by:

- decoding the JWS (compact serialization: the JSON serialization is "strongly discouraged" by
  xAPI 1.0.3 and forbidden by its successors; this LRS reads the compact one only, as joserfc
  parses it);
- its algorithm: RS256, RS384 or RS512 (2.6.s4.b4);
- its payload: a JSON serialization of the statement as it was before the signature was added
  (2.6.s4.b3), "logically equivalent" to the statement received: compared as xAPI compares
  statements (Data 2.3.1), ignoring what an LRS may have assigned (``id``, ``authority``,
  ``timestamp``, ``version`` when only one side has them; ``stored``), what is not part of a
  statement (attachments, Activity definitions, a Verb's ``display``), how timestamps are written
  (the same instant), the order of a Group's members and the case of what is case-insensitive (a
  ``mbox`` domain, UUIDs); everything else must be the same JSON value;
- when its header carries an X.509 certificate chain (``x5c``), the signature verified with the
  first certificate's RSA key (2.6.s5.b3.b3). As xAPI says, that is to catch mistakes, not a
  security measure: the chain is not validated, nor the certificate's dates or uses. A signature
  without ``x5c`` cannot be verified here and is not.

A signature attachment without its data (it has a ``fileUrl``) cannot be checked here either, and
is kept as sent, like any attachment by fileUrl (xAPI has a JSON request with only such attachments
accepted).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.util import urlsafe_b64decode

from eventcapture.exceptions import ApiError, ErrorDetail, clipped
from eventcapture.parsing import json_parse
from events.xapi_attachments import attachments_of, is_signature
from events.xapi_statements import statement_complete

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
# What an LRS may assign to a statement it stores (Data 2.3.1.b1); ``stored`` it always sets.
_ASSIGNED = ("id", "authority", "timestamp", "version")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Keys whose UUID value xAPI compares without case: a statement's or StatementRef's id, a registration.
_UUID_KEYS = frozenset({"id", "registration"})


class _Registry(jws.JWSRegistry):
    # An x5c chain makes a header several kilobytes, and the payload is a whole statement (the
    # request's size limit bounds both); a signature of RSA up to 16,384 bits.
    max_header_length = 1024 * 1024
    max_payload_length = 64 * 1024 * 1024
    max_signature_length = 4 * 1024


# Header parameters joserfc does not know are allowed, as RFC 7515 asks (``crit`` is enforced).
_REGISTRY = _Registry(algorithms=list(_HASHES), strict_check_header=False)


# --- comparing the signed statement with the one received ------------------------------------------


def _instant(text: str) -> Any:
    """A timestamp as the instant it names (UTC), so two spellings of one instant compare equal;
    the text itself when it does not parse (or names no zone: its instant is the writer's guess)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return ("instant", moment.astimezone(UTC)) if moment.tzinfo is not None else text


def _normalized(value: Any, key: str | None = None) -> Any:
    """``value`` with what xAPI does not count as a difference between two statements made the same."""
    if isinstance(value, list):
        items = [_normalized(item) for item in value]
        # A Group's members are an unordered list (Data 2.3.1.b5).
        return sorted(items, key=_sort_key) if key == "member" else items
    if not isinstance(value, dict):
        if isinstance(value, str):
            if key == "timestamp":
                return _instant(value)
            if key == "mbox" and "@" in value:
                local, _, domain = value.rpartition("@")
                return f"{local}@{domain.lower()}"
            if key in _UUID_KEYS and _UUID.fullmatch(value):
                return value.lower()
        return value
    normalized = {}
    for name, item in value.items():
        # Attachments are not part of a statement (Data 2.3.1.b6), nor the content of an Activity's
        # definition (2.3.1.b2) or a Verb's display (2.3.1.b3).
        if name == "attachments" or (name == "definition" and value.get("objectType") == "Activity"):
            continue
        if key == "verb" and name == "display":
            continue
        # Extension values are the client's own JSON: compared as they are.
        normalized[name] = item if name == "extensions" else _normalized(item, name)
    return normalized


def _sort_key(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS)


def _comparable(statement: Mapping[str, Any], *, present: set[str]) -> Any:
    """A statement completed as the service completes every statement (objectType defaults, a lone
    context activity made a list), without ``stored`` and the assigned properties not in ``present``,
    normalized."""
    completed = statement_complete(dict(statement), statement_id="", stored="")
    return _normalized(
        {
            name: item
            for name, item in completed.items()
            if name != "stored" and (name not in _ASSIGNED or name in present)
        }
    )


def _kind(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _difference(signed: Any, received: Any, path: str) -> str | None:
    """Where two normalized statements differ first (None: nowhere). JSON values: ``1`` and
    ``1.0`` are one number, ``true`` and ``1`` are not."""
    if _kind(signed) != _kind(received):
        return path
    if isinstance(signed, dict):
        for name in sorted(set(signed) | set(received)):
            if name not in signed or name not in received:
                return f"{path}.{name}"
            found = _difference(signed[name], received[name], f"{path}.{name}")
            if found is not None:
                return found
        return None
    if isinstance(signed, list):
        if len(signed) != len(received):
            return path
        for position, (one, other) in enumerate(zip(signed, received, strict=True)):
            found = _difference(one, other, f"{path}.{position}")
            if found is not None:
                return found
        return None
    return None if signed == received else path


def signed_difference(signed: Mapping[str, Any], received: Mapping[str, Any]) -> str | None:
    """The first place (``statement.verb.id``) where the statement a signature holds is not the
    statement received, as xAPI compares statements (see the module's docstring); None when they are
    logically equivalent."""
    present = {name for name in _ASSIGNED if name in signed and name in received}
    return _difference(_comparable(signed, present=present), _comparable(received, present=present), "statement")


# --- the signature --------------------------------------------------------------------------------


def _header_problem(segment: bytes) -> str | None:
    """Why a compact JWS's header segment is not a JSON object (joserfc reads only those well)."""
    try:
        header = json_parse(urlsafe_b64decode(segment), max_depth=16, what="The header")
    except (ApiError, ValueError) as error:
        return f"its header is not base64url-encoded JSON ({clipped(str(error), 120)})"
    return None if isinstance(header, dict) else "its header is not a JSON object"


def _verified(signed: jws.CompactSignature, algorithm: str, chain: Any) -> str | None:
    """Why the signature does not verify with the RSA key of the chain's first certificate."""
    if not isinstance(chain, list) or not chain or not all(isinstance(entry, str) for entry in chain):
        return "x5c is not a list of certificates (base64 DER)"
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        key = certificate.public_key()
    except (ValueError, binascii.Error):
        return "the first certificate of x5c does not parse (base64 of DER)"
    if not isinstance(key, rsa.RSAPublicKey):
        return f"the key of the x5c certificate is not an RSA key, as {algorithm} needs"
    segments = signed.segments
    try:
        signature = urlsafe_b64decode(segments["signature"])
        key.verify(signature, segments["header"] + b"." + segments["payload"], padding.PKCS1v15(), _HASHES[algorithm]())
    except (InvalidSignature, ValueError, binascii.Error):
        return "the signature does not verify with the key of the x5c certificate"
    return None


def _signature_problem(data: bytes, statement: Mapping[str, Any], *, max_depth: int) -> str | None:
    """Why ``data`` is not a well-formed signature of ``statement`` (as received, before completion)."""
    compact = data.strip()
    segments = compact.split(b".")
    if len(segments) != 3 or compact.startswith(b"{"):
        return "the signature is not a JWS in compact serialization (header.payload.signature)"
    problem = _header_problem(segments[0])
    if problem is not None:
        return f"the signature is not a well-formed JWS: {problem}"
    try:
        signed = jws.extract_compact(compact, registry=_REGISTRY)
        headers = signed.headers()
        algorithm = headers["alg"]
        if not isinstance(algorithm, str) or algorithm not in _HASHES:
            return f"the JWS algorithm must be RS256, RS384 or RS512, not {clipped(repr(algorithm), 40)}"
        _REGISTRY.check_header(headers)
    except (JoseError, ValueError, TypeError) as error:
        return f"the signature is not a well-formed JWS: {clipped(str(error) or type(error).__name__, 120)}"
    try:
        payload = json_parse(signed.payload, max_depth=max_depth, what="The JWS payload")
    except ApiError as error:
        return f"the JWS payload is not a JSON serialization of the statement: {clipped(error.message, 160)}"
    if not isinstance(payload, dict):
        return "the JWS payload is not a JSON serialization of the statement (an object)"
    where = signed_difference(payload, statement)
    if where is not None:
        return f"the JWS payload is not the statement: they differ at {clipped(where, 120)}"
    if "x5c" in headers:
        return _verified(signed, algorithm, headers["x5c"])
    return None


def signature_problems(
    *,
    index: int,
    statement: Mapping[str, Any],
    completed: Mapping[str, Any],
    attachments: Mapping[str, bytes],
    event_type: str,
    max_depth: int,
) -> list[ErrorDetail]:
    """What is wrong with the signatures of a statement (``statement`` as received, ``completed``
    as the service completed and validated it): each signature attachment of the statement whose
    data the request carries (``attachments``, by SHA-2) is checked (see the module's docstring)."""
    problems = []
    for where, attachment, sha2 in attachments_of(completed, own=True):
        data = attachments.get(sha2)
        if data is None or not is_signature(attachment):
            continue
        problem = _signature_problem(data, statement, max_depth=max_depth)
        if problem is not None:
            problems.append(
                ErrorDetail("invalid_signature", f"{where}: {problem}", index, f"statement.{where}", event_type)
            )
    return problems
