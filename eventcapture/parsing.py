"""Reading request bodies within limits: size (after decompression too), encoding, JSON depth, and
the parts of a multipart/mixed body.

Pure functions over a byte stream, no Django. A gzip body is inflated incrementally and cut off as
soon as the inflated size passes the limit, so a small "gzip bomb" is never inflated in full. A
multipart body is read whole (within the same limit) before it is split into its parts.
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any, BinaryIO

import orjson

from eventcapture.exceptions import MalformedJson, MalformedRequest, PayloadTooLarge, UnsupportedMediaType, clipped

_CHUNK = 64 * 1024
_IDENTITY_ENCODINGS = ("", "identity")
_CONTAINERS = (dict, list)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {max_bytes} bytes (after decompression)")


def _read_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)


def _gunzip_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    output: list[bytes] = []
    size = 0
    read = 0
    while True:
        chunk = stream.read(_CHUNK)
        read += len(chunk)
        if read > max_bytes:
            raise _too_large(max_bytes)
        try:
            # Never inflate more than one byte past the limit, whatever the input holds.
            data = inflater.decompress(inflater.unconsumed_tail + chunk, max_bytes + 1 - size)
            while data:
                size += len(data)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                output.append(data)
                data = inflater.decompress(inflater.unconsumed_tail, max_bytes + 1 - size)
        except zlib.error as exc:
            raise MalformedRequest(f"The gzip body cannot be decompressed: {exc}") from exc
        if not chunk:
            if not inflater.eof:
                raise MalformedRequest("The gzip body is truncated")
            return b"".join(output)


def body_read(stream: BinaryIO, *, content_encoding: str, max_bytes: int) -> bytes:
    """The (decompressed) body, at most ``max_bytes`` long; 413 past that, 415 for an encoding
    other than gzip or identity."""
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        return _gunzip_limited(stream, max_bytes)
    if encoding in _IDENTITY_ENCODINGS:
        return _read_limited(stream, max_bytes)
    raise UnsupportedMediaType(f"Content-Encoding {content_encoding!r} is not supported (use gzip or none)")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` deep, walked a level at a time (only
    containers are visited: the scalars of a wide body cost one type check each)."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) in _CONTAINERS
        ]
    return False


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character is in any key or string of ``value``, walked a level at a time."""
    level = [value]
    while level:
        children: list[Any] = []
        for node in level:
            if type(node) is str:
                if "\x00" in node:
                    return True
            elif type(node) is dict:
                if any("\x00" in key for key in node):
                    return True
                children.extend(node.values())
            elif type(node) is list:
                children.extend(node)
        level = children
    return False


def json_parse(raw: bytes, *, max_depth: int, what: str = "The request body") -> Any:
    """Strict JSON (UTF-8 text that UTF-8 can hold: no lone surrogates; no NaN or Infinity, nor a
    number too large for a double) nested at most ``max_depth`` deep, and without NUL characters
    (``\\u0000``): PostgreSQL keeps no text that holds one (a dead letter or a schema could never
    be stored), and neither do many of the stores consumers load events into."""
    too_deep = MalformedRequest(f"{what} is nested more than {max_depth} levels deep")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson stops by itself past 1024 levels.
        if "depth limit" in str(exc):
            raise too_deep from exc
        raise MalformedJson(f"{what} is not valid JSON: {exc}") from exc
    if _deeper_than(value, max_depth):
        raise too_deep
    # JSON can only spell NUL as an escape: a body without that escape holds none (the walk tells
    # the rare escaped backslash followed by "u0000" from a NUL).
    if b"\\u0000" in raw and _holds_nul(value):
        raise MalformedJson(f"{what} holds a NUL character (\\u0000), which the service does not accept")
    return value


# --- multipart/mixed (RFC 2046) -------------------------------------------------------------------

# HTTP carries a part's bytes as they are (RFC 9110 has no Content-Transfer-Encoding): a part that
# declares another encoding is refused rather than decoded.
_IDENTITY_TRANSFER_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
# Marks the message the reader builds around a body (a header no client can guess): only that one is
# read as a multipart; every part is a leaf, whatever its Content-Type says.
_ROOT_HEADER = "X-Eventcapture-Multipart-Root"
_ROOT_TOKEN = secrets.token_hex(16)
# What a defect of the email parser means for the client, by its class name.
_DEFECTS = {
    "NoBoundaryInMultipartDefect": "the Content-Type has no boundary parameter",
    "StartBoundaryNotFoundDefect": "no part of the body starts with the boundary of the Content-Type",
    "CloseBoundaryNotFoundDefect": "the body does not end with the closing boundary (--boundary--)",
    "MissingHeaderBodySeparatorDefect": "a part's headers are not followed by an empty line",
    "FirstHeaderLineIsContinuationDefect": "a part's first header line is a continuation line",
    "MultipartInvariantViolationDefect": "the body holds no part",
}


class _Part(Message):
    """A message of the email parser that is a leaf unless it is the reader's own root: the parser
    descends into a multipart/* or message/* part, and would then keep no bytes of it (an attachment
    may well be an e-mail or a multipart document)."""

    def get_content_type(self) -> str:
        if self.get(_ROOT_HEADER) == _ROOT_TOKEN:
            return super().get_content_type()
        return "application/octet-stream"

    def declared_content_type(self) -> str:
        """The part's own Content-Type (``text/plain`` when it has none, as RFC 2045 says)."""
        return super().get_content_type()


@dataclass(frozen=True)
class BodyPart:
    """One part of a multipart body: its media type (lower case, without parameters; ``text/plain``
    when the part names none), its headers (names in lower case, each with every value it was given,
    in order) and its bytes, exactly as sent."""

    content_type: str
    headers: dict[str, list[str]]
    data: bytes


def _defects_message(defects: list[Any], where: str) -> str:
    named = [_DEFECTS.get(type(defect).__name__, type(defect).__name__) for defect in defects]
    return f"The multipart body does not parse ({where}): {'; '.join(dict.fromkeys(named))}"


def multipart_read(raw: bytes, *, content_type: str, max_parts: int) -> list[BodyPart]:
    """The parts of a ``multipart/mixed`` body (RFC 2046) whose request's Content-Type is
    ``content_type`` (its ``boundary`` parameter delimits them), read by the standard library's email
    parser. ``MalformedRequest`` for a body that does not parse: no boundary, no part delimited by
    it, no closing delimiter, a part whose headers do not end with an empty line or that declares a
    Content-Transfer-Encoding other than 7bit, 8bit or binary; or more than ``max_parts`` parts."""
    if "\r" in content_type or "\n" in content_type:
        raise MalformedRequest("The Content-Type header holds a line break")
    declared = Message()
    declared["Content-Type"] = content_type
    boundary = declared.get_boundary()
    # RFC 2046 has the boundary occur nowhere in the parts, so its occurrences bound the delimiters:
    # counted before parsing, as the parser costs about ten microseconds a part.
    if boundary and raw.count(b"--" + boundary.encode("latin-1", "replace")) > max_parts + 1:
        raise MalformedRequest(f"The multipart body holds more than {max_parts} parts")
    head = f"{_ROOT_HEADER}: {_ROOT_TOKEN}\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(_Part, policy=compat32).parsebytes(head + raw)
    if message.get_content_type() != "multipart/mixed":
        raise UnsupportedMediaType(f"Content-Type {clipped(content_type, 100)!r} is not multipart/mixed")
    if message.defects or not message.is_multipart():
        raise MalformedRequest(_defects_message(message.defects, "the body"))
    parts: list[BodyPart] = []
    for number, part in enumerate(message.get_payload()):
        if not isinstance(part, _Part):  # never: the parser makes every message with the given class
            raise MalformedRequest(f"The multipart body does not parse (part {number})")
        if part.defects:
            raise MalformedRequest(_defects_message(part.defects, f"part {number}"))
        headers: dict[str, list[str]] = {}
        for name, value in part.items():
            # A value holding bytes that are not ASCII comes as an email.header.Header: its text.
            headers.setdefault(name.lower(), []).append(str(value))
        encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
        if encoding not in _IDENTITY_TRANSFER_ENCODINGS:
            raise MalformedRequest(
                f"Part {number} of the multipart body declares Content-Transfer-Encoding {clipped(encoding, 40)!r}: "
                "HTTP carries parts as they are (binary)"
            )
        # Decoding with an identity encoding returns the part's bytes exactly as they came.
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):  # never for a leaf
            raise MalformedRequest(f"The multipart body does not parse (part {number})")
        parts.append(BodyPart(content_type=part.declared_content_type(), headers=headers, data=data))
    return parts
