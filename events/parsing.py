"""Reading request bodies within limits: size (after decompression too), encoding, JSON depth.

Pure functions over a byte stream, no Django. A gzip body is inflated incrementally and cut off as
soon as the inflated size passes the limit, so a small "gzip bomb" is never inflated in full.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, BinaryIO

from eventcapture.exceptions import MalformedJson, MalformedRequest, PayloadTooLarge, UnsupportedMediaType

_CHUNK = 64 * 1024
_IDENTITY_ENCODINGS = ("", "identity")


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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any) -> int:
    deepest = 0
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in node)
    return deepest


def json_parse(raw: bytes, *, max_depth: int) -> Any:
    """Strict JSON (UTF-8, no NaN or Infinity) nested at most ``max_depth`` deep."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise MalformedRequest(f"The JSON body is nested more than {max_depth} levels deep") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJson(f"The request body is not valid JSON: {exc}") from exc
    if _depth(value) > max_depth:
        raise MalformedRequest(f"The JSON body is nested more than {max_depth} levels deep")
    return value
