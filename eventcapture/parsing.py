"""Reading request bodies within limits: size (after decompression too), encoding, JSON depth.

Pure functions over a byte stream, no Django. A gzip body is inflated incrementally and cut off as
soon as the inflated size passes the limit, so a small "gzip bomb" is never inflated in full.
"""

from __future__ import annotations

import zlib
from typing import Any, BinaryIO

import orjson

from eventcapture.exceptions import MalformedJson, MalformedRequest, PayloadTooLarge, UnsupportedMediaType

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
