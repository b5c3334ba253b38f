"""Reading bodies within limits: pure units over byte streams."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventcapture.exceptions import MalformedJson, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from eventcapture.parsing import body_read, json_parse, multipart_read

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


# --- multipart/mixed ------------------------------------------------------------------------------

BOUNDARY = "-------314159265358979323846"
MIXED = f"multipart/mixed; boundary={BOUNDARY}"


def multipart(*parts: tuple[list[str], bytes], boundary: str = BOUNDARY, newline: bytes = b"\r\n") -> bytes:
    body = b""
    for headers, data in parts:
        body += b"--" + boundary.encode() + newline + b"".join(h.encode() + newline for h in headers)
        body += newline + data + newline
    return body + b"--" + boundary.encode() + b"--"


def test_it_reads_the_parts_of_the_xapi_specifications_example():
    # Communication 1.5.2's example: a preamble line, a boundary of every character class RFC 2046
    # allows (quoted), headers without a space after the colon.
    boundary = "abcABC0123'()+_,-./:=?"
    body = (
        f"\r\n--{boundary}\r\nContent-Type:application/json\r\n\r\n{{}}\r\n"
        f"--{boundary}\r\nContent-Type:text/plain\r\nContent-Transfer-Encoding:binary\r\n"
        f"X-Experience-API-Hash:495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a\r\n\r\n"
        f"here is a simple attachment\r\n--{boundary}--"
    ).encode()

    first, second = multipart_read(body, content_type=f'multipart/mixed; boundary="{boundary}"', max_parts=10)

    assert (first.content_type, first.data) == ("application/json", b"{}")
    assert second.content_type == "text/plain"
    assert second.headers["x-experience-api-hash"] == [
        "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"
    ]
    assert second.headers["content-transfer-encoding"] == ["binary"]
    assert second.data == b"here is a simple attachment"


@settings(derandomize=True, database=None, deadline=None, max_examples=300)
@given(
    st.lists(
        st.sampled_from([b"\r", b"\n", b"\r\n", b"-", b"--", b"\x00", b"\xff", b" ", b"--" + BOUNDARY.encode()[:9]])
        | st.binary(min_size=1, max_size=8),
        max_size=40,
    ).map(b"".join)
)
def test_a_parts_bytes_come_back_exactly_as_sent_line_breaks_included(data):
    body = multipart((["Content-Type: application/json"], b"{}"), (["Content-Transfer-Encoding: binary"], data))

    assert multipart_read(body, content_type=MIXED, max_parts=10)[1].data == data


def test_a_part_that_is_itself_multipart_or_a_message_is_kept_as_its_bytes():
    # The email parser would descend into these and keep none of their bytes.
    mail = b"From: ada@example.edu\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nhi\r\n--zz--"
    related = b"--q\r\nContent-Type: text/plain\r\n\r\nhi\r\n--q--"
    body = multipart(
        (["Content-Type: message/rfc822"], mail), (["Content-Type: multipart/related; boundary=q"], related)
    )

    parts = multipart_read(body, content_type=MIXED, max_parts=10)

    assert [(part.content_type, part.data) for part in parts] == [
        ("message/rfc822", mail),
        ("multipart/related", related),
    ]


def test_line_feeds_alone_delimit_parts_too():
    body = multipart((["Content-Type: text/plain"], b"one"), ([], b"two"), newline=b"\n")

    assert [(part.content_type, part.data) for part in multipart_read(body, content_type=MIXED, max_parts=10)] == [
        ("text/plain", b"one"),
        ("text/plain", b"two"),
    ]


def test_a_header_value_that_is_not_ascii_is_read_as_text_not_a_crash():
    body = f"--{BOUNDARY}\r\nX-Experience-API-Hash: ".encode() + b"\xe9\xff\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--"

    [part] = multipart_read(body, content_type=MIXED, max_parts=10)

    assert isinstance(part.headers["x-experience-api-hash"][0], str)


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        (multipart(([], b"x")), "multipart/mixed", "no boundary parameter"),
        (b'Content-Type: application/json\r\n\r\n{"a": 1}', MIXED, "no part of the body starts with the boundary"),
        (b"", MIXED, "no part of the body starts with the boundary"),
        (f"--{BOUNDARY}\r\n\r\nx\r\n".encode(), MIXED, "closing boundary"),
        (f"--{BOUNDARY}\r\nnot a header\r\n--{BOUNDARY}--".encode(), MIXED, "not followed by an empty line"),
        (multipart((["Content-Transfer-Encoding: base64"], b"eA==")), MIXED, "HTTP carries parts as they are"),
        (multipart(([], b"x")), "multipart/mixed; boundary=a\r\nX-Injected: 1", "line break"),
    ],
)
def test_a_multipart_body_that_does_not_parse_is_a_400(raw, content_type, message):
    with pytest.raises(MalformedRequest, match=message):
        multipart_read(raw, content_type=content_type, max_parts=10)


def test_parts_past_the_limit_are_refused_before_they_are_parsed():
    three = multipart(([], b"1"), ([], b"2"), ([], b"3"))

    assert len(multipart_read(three, content_type=MIXED, max_parts=3)) == 3
    with pytest.raises(MalformedRequest, match="more than 2 parts"):
        multipart_read(three, content_type=MIXED, max_parts=2)


def test_another_multipart_type_is_not_read_as_mixed():
    with pytest.raises(UnsupportedMediaType):
        multipart_read(multipart(([], b"x")), content_type=f"multipart/form-data; boundary={BOUNDARY}", max_parts=10)


@settings(derandomize=True, database=None, deadline=None, max_examples=400)
@given(
    st.lists(
        st.sampled_from(
            [
                b"--" + BOUNDARY.encode(),
                b"--" + BOUNDARY.encode() + b"--",
                b"\r\n",
                b"\n",
                b"\r",
                b"Content-Type: multipart/mixed; boundary=" + BOUNDARY.encode(),
                b"Content-Type: message/rfc822",
                b"Content-Transfer-Encoding: binary",
                b": x",
                b" folded",
                b"From x",
                b"\x00\xff",
            ]
        )
        | st.binary(max_size=6),
        max_size=30,
    ).map(b"".join)
)
def test_any_body_is_read_or_refused_with_a_400_never_a_crash(raw):
    try:
        parts = multipart_read(raw, content_type=MIXED, max_parts=20)
    except MalformedRequest:
        return
    assert all(isinstance(part.data, bytes) for part in parts)
