"""Reading bodies within limits: pure units over byte streams."""

from __future__ import annotations

import gzip
import io
import json

import pytest

from eventcapture.exceptions import MalformedJson, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from eventcapture.parsing import body_read, json_parse

LIMIT = 1024


def read(data: bytes, encoding: str = "", limit: int = LIMIT) -> bytes:
    return body_read(io.BytesIO(data), content_encoding=encoding, max_bytes=limit)


def test_it_reads_a_body_up_to_the_limit_and_refuses_one_byte_more():
    assert read(b"x" * LIMIT) == b"x" * LIMIT
    with pytest.raises(PayloadTooLarge):
        read(b"x" * (LIMIT + 1))


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", " gzip "])
def test_it_inflates_a_gzip_body(encoding):
    assert read(gzip.compress(b'{"events": []}'), encoding) == b'{"events": []}'


def test_it_measures_the_limit_after_decompression():
    assert read(gzip.compress(b"x" * LIMIT), "gzip") == b"x" * LIMIT
    with pytest.raises(PayloadTooLarge):
        read(gzip.compress(b"x" * (LIMIT + 1)), "gzip")


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_a_gzip_bomb_is_cut_off_before_it_is_inflated_in_full():
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024))  # 200 MiB of zeros in about 200 KB
    stream = CountingStream(bomb)
    with pytest.raises(PayloadTooLarge):
        body_read(stream, content_encoding="gzip", max_bytes=1024 * 1024)
    # Inflating stopped at the limit: only the first chunk of the compressed input was read.
    assert stream.bytes_read < len(bomb)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"not gzip at all", "cannot be decompressed"), (gzip.compress(b"{}")[:-6], "truncated"), (b"", "truncated")],
)
def test_a_broken_gzip_body_is_a_400(data, message):
    with pytest.raises(MalformedRequest, match=message):
        read(data, "gzip")


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, br", "compress"])
def test_other_content_encodings_are_a_415(encoding):
    with pytest.raises(UnsupportedMediaType):
        read(b"{}", encoding)


def test_it_parses_strict_json():
    assert json_parse(b'{"a": [1, 2.5, "\\u00e9"]}', max_depth=4) == {"a": [1, 2.5, "é"]}


@pytest.mark.parametrize("raw", [b"{", b"NaN", b'{"a": Infinity}', b"\xff\xfe{}", b"", b"{'a': 1}"])
def test_anything_but_strict_utf8_json_is_malformed_json(raw):
    with pytest.raises(MalformedJson):
        json_parse(raw, max_depth=32)


def test_it_refuses_json_nested_deeper_than_the_limit():
    assert json_parse(json.dumps([[[{"a": 1}]]]).encode(), max_depth=4) == [[[{"a": 1}]]]
    with pytest.raises(MalformedRequest, match="nested more than 3 levels"):
        json_parse(json.dumps([[[{"a": 1}]]]).encode(), max_depth=3)


def test_absurdly_deep_json_is_a_400_not_a_crash():
    with pytest.raises(MalformedRequest, match="nested"):
        json_parse(b"[" * 200_000 + b"]" * 200_000, max_depth=32)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"app": "a\\u0000b"}',
        b'{"a\\u0000": 1}',
        b'{"events": [{"data": {"deep": [["\\u0000"]]}}]}',
    ],
)
def test_a_nul_character_anywhere_is_malformed_json(raw):
    with pytest.raises(MalformedJson, match="NUL character"):
        json_parse(raw, max_depth=32)


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul():
    # The JSON text "\\u0000" is the six characters \u0000: kept as sent.
    assert json_parse(b'{"note": "\\\\u0000"}', max_depth=32) == {"note": "\\u0000"}
