"""Hostile input to every endpoint that reads a body or a path from the client: the events and
xAPI endpoints (multipart/mixed bodies, xAPI's attachments and signatures, included), the
schema-registry API's reads and writes, and the admin's login. Whatever
arrives, the answer is never a 5xx, and a refusal is small (no echo of a large input, no error per
item of a bomb). Each case logs one line (logger ``tests.hostile``, shown with
``-o log_cli=true --log-cli-level=INFO``): what was sent where, and what came back."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import batch, nudged, registrar_create

pytestmark = pytest.mark.usefixtures("catalogue")
logger = logging.getLogger("tests.hostile")
NUDGED = "org.openstax.ec.nudged_v1"
PASSWORD = "s3cret-pass"
SMALL = 4096  # bytes a refusal may take at most


def _gzip_bomb() -> bytes:
    # About 1 KB that inflates to 50 MB of spaces inside a JSON string.
    return gzip.compress(b'{"events": "' + b" " * 50_000_000 + b'"}', compresslevel=9)


def _lone_surrogate(body: Any) -> bytes:
    return json.dumps(body).replace('"', '"\\ud800', 1).encode()


_MIXED = {"CONTENT_TYPE": "multipart/mixed; boundary=b"}


def _signed_garbage() -> bytes:
    # A statement whose signature's JWS header is JSON nested 5,000 deep.
    signature = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=") + b".e30.c2ln"
    sha2 = hashlib.sha256(signature).hexdigest()
    attachment = {
        "usageType": "http://adlnet.gov/expapi/attachments/signature",
        "display": {"en-US": "Signature"},
        "contentType": "application/octet-stream",
        "length": len(signature),
        "sha2": sha2,
    }
    statement = {
        "actor": {"mbox": "mailto:ada@example.edu"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://openstax.org/books/physics"},
        "attachments": [attachment],
    }
    return (
        b"--b\r\nContent-Type: application/json\r\n\r\n" + json.dumps(statement).encode() + b"\r\n--b\r\n"
        b"Content-Transfer-Encoding: binary\r\nX-Experience-API-Hash: "
        + sha2.encode()
        + b"\r\n\r\n"
        + signature
        + b"\r\n--b--"
    )


HOSTILE: dict[str, tuple[bytes, dict[str, str]]] = {
    "empty body": (b"", {}),
    "not JSON": (b"{events: [", {}),
    "nested 5,000 deep": (b"[" * 5000 + b"]" * 5000, {}),
    "lone surrogate in a key": (_lone_surrogate({"events": [{"data": {}}]}), {}),
    "lone surrogate in a value": (b'{"events": [{"data": {"type": "\\udfff"}}]}', {}),
    "NaN": (b'{"events": NaN}', {}),
    "number too large for a double": (b'{"events": [1e400]}', {}),
    "2 MB body": (b'{"events": ["' + b"x" * 2_000_000 + b'"]}', {}),
    "gzip bomb (1 KB to 50 MB)": (_gzip_bomb(), {"HTTP_CONTENT_ENCODING": "gzip"}),
    "item bomb (490,000 items, 1 KB of gzip)": (
        gzip.compress(b'{"events":[' + b",".join([b"0"] * 490_000) + b"]}"),
        {"HTTP_CONTENT_ENCODING": "gzip"},
    ),
    "truncated gzip": (gzip.compress(b'{"events": []}')[:-6], {"HTTP_CONTENT_ENCODING": "gzip"}),
    "unknown Content-Encoding": (b'{"events": []}', {"HTTP_CONTENT_ENCODING": "br"}),
    "XML": (b"<events/>", {"CONTENT_TYPE": "application/xml"}),
    "top-level string": (b'"events"', {}),
    "top-level null": (b"null", {}),
    "100,000-character key": (json.dumps({"k" * 100_000: 1}).encode(), {}),
    "NUL bytes in strings": (json.dumps(batch(nudged(app="\x00" * 100))).encode(), {}),
    "multipart without boundary": (b"--b\r\n\r\nx\r\n--b--", {"CONTENT_TYPE": "multipart/mixed"}),
    "multipart, a line break in its Content-Type": (
        b"--b\r\n\r\nx\r\n--b--",
        {"CONTENT_TYPE": "multipart/mixed; boundary=b\r\nX: y"},
    ),
    "multipart of 100,000 parts": (b"--b\r\n\r\n\r\n" * 100_000 + b"--b--", _MIXED),
    "multipart, unterminated": (b"--b\r\nContent-Type: application/json\r\n\r\n{}", _MIXED),
    "multipart, headers not ASCII": (b"--b\r\n\xff\xfe: \x00\r\nX-Experience-API-Hash: \xe9\r\n\r\nx\r\n--b--", _MIXED),
    "multipart, first part nested 5,000 deep": (
        b"--b\r\nContent-Type: application/json\r\n\r\n" + b"[" * 5000 + b"]" * 5000 + b"\r\n--b--",
        _MIXED,
    ),
    "multipart, parts that are multipart": (
        b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b--\r\n--b--",
        _MIXED,
    ),
    "multipart gzip bomb (50 MB of one part)": (
        gzip.compress(b"--b\r\n\r\n" + b" " * 50_000_000 + b"\r\n--b--", compresslevel=9),
        {**_MIXED, "HTTP_CONTENT_ENCODING": "gzip"},
    ),
    "multipart, a signature's JWS header nested 5,000 deep": (_signed_garbage(), _MIXED),
}


def _basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()


# method, path, and who sends: a user signed in by Basic auth, "xapi" (an xAPI client's version
# header), or None.
POSTED_TO = {
    "POST /api/v0/events": ("post", "/api/v0/events", None),
    "POST /api/v0/xapi/statements": ("post", "/api/v0/xapi/statements", None),
    "POST /api/v0/xapi/statements (xAPI 1.0.3)": ("post", "/api/v0/xapi/statements", "xapi"),
    "PUT /api/v0/xapi/statements?statementId= (xAPI 1.0.3)": (
        "put",
        "/api/v0/xapi/statements?statementId=0f8fad5b-d9cb-469f-a165-70867728950e",
        "xapi",
    ),
    "POST registry look-up": ("post", f"/schema-registry/subjects/{NUDGED}", None),
    "POST registry register (registrar)": ("post", f"/schema-registry/subjects/{NUDGED}/versions", "registrar"),
    "POST registry compatibility": ("post", f"/schema-registry/compatibility/subjects/{NUDGED}/versions/latest", None),
    "PUT registry subject level (registrar)": ("put", f"/schema-registry/config/{NUDGED}", "registrar"),
    "PUT registry global level (superuser)": ("put", "/schema-registry/config", "root"),
}


@pytest.fixture
def users(catalogue: None) -> None:
    registrar_create("registrar", PASSWORD)
    get_user_model().objects.create_superuser("root", password=PASSWORD)


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _assert_small_refusal(response: Any, label: str) -> None:
    logger.info("hostile: %s -> %d (%d bytes)", label, response.status_code, len(response.content))
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert len(response.content) <= SMALL, f"{label}: a {len(response.content)}-byte refusal"


@pytest.mark.parametrize("endpoint", POSTED_TO)
@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_bodies_are_refused_small_and_never_a_5xx(users, endpoint, case):
    method, path, user = POSTED_TO[endpoint]
    body, extra = HOSTILE[case]
    headers = {"CONTENT_TYPE": "application/json", **extra}
    if user == "xapi":
        headers["HTTP_X_EXPERIENCE_API_VERSION"] = "1.0.3"
    elif user is not None:
        headers["HTTP_AUTHORIZATION"] = _basic(user)
    content_type = headers.pop("CONTENT_TYPE")
    response = getattr(Client(), method)(path, body, content_type=content_type, **headers)
    _assert_small_refusal(response, f"{endpoint} <- {case}")
    assert response.status_code >= 400


HOSTILE_PATHS = [
    "/schema-registry/schemas/ids/99999999999999999999999",
    "/schema-registry/schemas/ids/-1",
    f"/schema-registry/subjects/{NUDGED}/versions/99999999999999999999",
    f"/schema-registry/subjects/{NUDGED}/versions/0",
    "/schema-registry/subjects/" + "x" * 10_000 + "/versions",
    "/schema-registry/subjects/%00/versions",
    f"/schema-registry/subjects/{NUDGED}%00/versions/latest",
    "/schema-registry/subjects?subjectPrefix=%00",
    "/schema-registry/subjects/%ED%A0%80/versions",  # a lone surrogate, UTF-8 encoded
    "/schema-registry/subjects?offset=abc&limit=-999999999999999999999",
    "/schema-registry/subjects?subjectPrefix=" + "%FF" * 100,
    "/api/v0/events/../../etc/passwd",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_and_queries_are_answered_without_a_5xx(path):
    _assert_small_refusal(Client().get(path), f"GET {path[:80]}")


@pytest.mark.parametrize(
    ("label", "form"),
    [
        ("100,000-character username", {"username": "u" * 100_000, "password": "x"}),
        ("NUL bytes", {"username": "a\x00b", "password": "\x00"}),
        ("a 256-character username", {"username": "u" * 256, "password": "x"}),
        ("no fields", {}),
        ("lists for fields", {"username": ["a", "b"], "password": ["c", "d"]}),
    ],
)
def test_hostile_admin_logins_are_answered_without_a_5xx(label, form):
    response = Client().post("/admin/login/", form)
    logger.info("hostile: POST /admin/login/ <- %s -> %d", label, response.status_code)
    assert response.status_code < 500
