"""Statements sent with their attachments' data (``multipart/mixed``, xAPI 1.0.3 Communication 1.5.2
and Data 2.4.11) and signed statements (Data 2.6), judged by the ADL requirements an LRS must meet
(XAPI-00115 …), through the HTTP API in LRS mode and the real queue: a valid request is 200 (204 for
a PUT) and every attachment's data reaches its statement's record, base64, in ``content``; an
invalid one is 400 with the usual error body, and nothing is queued."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import os
import uuid
from typing import Any

import orjson
import pytest
from rest_framework.test import APIClient

from tests.queues import queued_events
from tests.xapi_signing import certificate, jws_compact, signature_attachment, signed

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue", "empty_queue")]

URL = "/api/v0/xapi/statements"
XAPI = {"X-Experience-API-Version": "1.0.3"}
BOUNDARY = "-------314159265358979323846"
MIXED = f"multipart/mixed; boundary={BOUNDARY}"
TEXT = b"here is a simple attachment"
TEXT_SHA2 = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"
BASE: dict[str, Any] = {
    "actor": {"mbox": "mailto:ada@example.edu", "name": "Ada"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
    "object": {"id": "https://openstax.org/books/physics", "definition": {"name": {"en-US": "Physics"}}},
}
TEXT_ATTACHMENT = {
    "usageType": "http://example.com/attachment-usage/test",
    "display": {"en-US": "A test attachment"},
    "description": {"en-US": "A test attachment (description)"},
    "contentType": "text/plain; charset=ascii",
    "length": 27,
    "sha2": TEXT_SHA2,
}


def statement(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), "id": str(uuid.uuid4()), **copy.deepcopy(changes)}


def data_part(data: bytes, *, sha2: str | None = None, content_type: str = "text/plain") -> tuple[list[str], bytes]:
    """An attachment's part: binary, its hash header its SHA-256 (or ``sha2``)."""
    headers = [
        f"Content-Type:{content_type}",
        "Content-Transfer-Encoding:binary",
        f"X-Experience-API-Hash:{sha2 or hashlib.sha256(data).hexdigest()}",
    ]
    return headers, data


def statements_part(statements: Any, content_type: str = "application/json") -> tuple[list[str], bytes]:
    return [f"Content-Type:{content_type}"], json.dumps(statements).encode()


def multipart(*parts: tuple[list[str], bytes], boundary: str = BOUNDARY, newline: bytes = b"\r\n") -> bytes:
    body = b""
    for headers, data in parts:
        body += b"--" + boundary.encode() + newline + b"".join(h.encode() + newline for h in headers)
        body += newline + data + newline
    return body + b"--" + boundary.encode() + b"--"


def send(body: bytes, *, content_type: str = MIXED, method: str = "post", path: str = URL, **headers: str) -> Any:
    return getattr(APIClient(), method)(path, data=body, content_type=content_type, headers={**XAPI, **headers})


def refused(response: Any, *expected: tuple[str | None, str], status: int = 400) -> list[dict[str, Any]]:
    """``response`` is a refusal with exactly the ``(path, code)`` errors ``expected``; nothing queued."""
    assert response.status_code == status, response.content
    assert response["X-Experience-API-Version"] == "1.0.3"
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert [(error["path"], error["code"]) for error in errors] == list(expected), errors
    assert queued_events() == []
    return errors


def accepted(response: Any, count: int = 1) -> list[dict[str, Any]]:
    """``response`` is a 200 with the ids of ``count`` statements, whose records are queued."""
    assert response.status_code == 200, response.content
    events = queued_events()
    assert response.json() == [event.key for event in events]
    assert len(events) == count
    return [event.record for event in events]


def base64_text(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- Communication 1.5.2: multipart/mixed -----------------------------------------------------------


def test_xapi_1_5_2_the_specifications_example_is_accepted_and_its_data_reaches_the_record():
    # The example of Communication 1.5.2, byte for byte in its form: a preamble line, a quoted
    # boundary of every character class RFC 2046 allows, headers without a space.
    boundary = "abcABC0123'()+_,-./:=?"
    sent = statement(attachments=[TEXT_ATTACHMENT])
    body = b"\r\n" + multipart(statements_part(sent), data_part(TEXT), boundary=boundary)

    [record] = accepted(send(body, content_type=f'multipart/mixed; boundary="{boundary}"'))

    assert record["id"] == sent["id"]
    assert record["attachments"] == [{**TEXT_ATTACHMENT, "content": base64_text(TEXT)}]


def test_xapi_1_5_2_binary_data_of_any_bytes_is_kept_exactly_with_a_sha_512_and_put_takes_multipart():
    data = b"\r\n--" + BOUNDARY.encode()[:-1] + b"\r\r\n\x00\xff" + os.urandom(4096) + b"\r"
    sha2 = hashlib.sha512(data).hexdigest()
    attachment = {**TEXT_ATTACHMENT, "contentType": "image/png", "length": len(data), "sha2": sha2}
    sent = statement(attachments=[attachment])
    body = multipart(statements_part(sent), data_part(data, sha2=sha2.upper(), content_type="image/png"))

    response = send(body, method="put", path=f"{URL}?statementId={sent['id']}")

    assert response.status_code == 204, response.content
    [event] = queued_events()
    assert event.key == sent["id"]
    [kept] = event.record["attachments"]
    assert base64.b64decode(kept["content"]) == data


def test_xapi_1_5_2_statements_sharing_an_attachment_send_its_data_once_and_each_record_carries_it():
    by_url = {**TEXT_ATTACHMENT, "sha2": "7063d0a4cfa93373753ad2f5a6ffcf684559fb1df3c2f0473a14ece7d4edb06a"}
    by_url["fileUrl"] = "https://openstax.org/attachments/2"
    sub_statement = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:grace@example.edu"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
        "object": {"id": "https://openstax.org/exercises/42"},
        "attachments": [TEXT_ATTACHMENT],
    }
    sent = [
        statement(attachments=[TEXT_ATTACHMENT, by_url]),
        statement(attachments=[TEXT_ATTACHMENT]),
        statement(object=sub_statement),
    ]

    first, second, third = accepted(send(multipart(statements_part(sent), data_part(TEXT))), count=3)

    content = base64_text(TEXT)
    assert first["attachments"] == [{**TEXT_ATTACHMENT, "content": content}, by_url]
    assert second["attachments"] == [{**TEXT_ATTACHMENT, "content": content}]
    assert third["object"]["attachments"] == [{**TEXT_ATTACHMENT, "content": content}]


@pytest.mark.parametrize(
    "attachments",
    [[], [{**TEXT_ATTACHMENT, "fileUrl": "https://openstax.org/attachments/1"}]],
    ids=["no attachment", "attachments by fileUrl only"],
)
def test_xapi_1_5_2_s3_b8_b9_multipart_without_attachment_data_is_accepted(attachments):
    sent = statement(attachments=attachments) if attachments else statement()

    [record] = accepted(send(multipart(statements_part(sent))))

    assert record["attachments"] == (attachments or None)


def test_a_gzip_encoded_multipart_body_with_line_feeds_alone_is_read():
    # The ADL suite's .part files break lines with LF; any client may gzip a body.
    sent = statement(attachments=[TEXT_ATTACHMENT])
    body = gzip.compress(multipart(statements_part(sent), data_part(TEXT), newline=b"\n"))

    [record] = accepted(send(body, **{"Content-Encoding": "gzip"}))

    assert record["attachments"][0]["content"] == base64_text(TEXT)


def test_xapi_00131_a_multipart_content_type_without_boundary_is_400():
    body = multipart(statements_part(statement(attachments=[TEXT_ATTACHMENT])), data_part(TEXT))

    [error] = refused(send(body, content_type="multipart/mixed;"), (None, "malformed_request"))

    assert "no boundary parameter" in error["message"]


def test_xapi_00130_a_body_whose_parts_do_not_start_with_the_boundary_is_400():
    sent = statement(attachments=[TEXT_ATTACHMENT])
    body = b"Content-Type:application/json\r\n\r\n" + json.dumps(sent).encode() + b"\r\n" + multipart(data_part(TEXT))

    refused(send(body), ("parts.0", "malformed_request"))


@pytest.mark.parametrize("headers", [["Content-Type:text/plain"], []], ids=["text/plain", "no Content-Type"])
def test_xapi_00134_a_first_part_that_is_not_application_json_is_400(headers):
    body = multipart((headers, json.dumps(statement(attachments=[TEXT_ATTACHMENT])).encode()), data_part(TEXT))

    [error] = refused(send(body), ("parts.0", "malformed_request"))

    assert "must be application/json" in error["message"]


def test_a_first_part_that_is_not_json_is_400_malformed_json():
    refused(send(multipart((["Content-Type: application/json"], b"{actor: "))), (None, "malformed_json"))


def test_xapi_00133_statements_split_over_several_parts_are_400():
    one, other = statement(attachments=[TEXT_ATTACHMENT]), statement(attachments=[TEXT_ATTACHMENT])
    body = multipart(statements_part(one), statements_part(other), data_part(TEXT))

    [error] = refused(send(body), ("parts.1", "malformed_request"))

    assert "every statement belongs in the first part" in error["message"]


def test_xapi_00132_an_attachment_part_without_its_hash_header_is_400():
    headers, data = data_part(TEXT)
    body = multipart(statements_part(statement(attachments=[TEXT_ATTACHMENT])), (headers[:2], data))

    [error] = refused(send(body), ("parts.1", "malformed_request"))

    assert "no X-Experience-API-Hash" in error["message"]


def test_xapi_00128_00132_a_part_whose_hash_is_no_attachments_sha2_is_400():
    other = b"here is another simple attachment"
    body = multipart(statements_part(statement(attachments=[TEXT_ATTACHMENT])), data_part(TEXT), data_part(other))

    [error] = refused(send(body), ("parts.2", "malformed_request"))

    assert hashlib.sha256(other).hexdigest() in error["message"]


@pytest.mark.parametrize("encoding", [None, "base64", "8bit"])
def test_xapi_00135_an_attachment_part_not_declared_binary_is_400(encoding):
    headers, data = data_part(TEXT)
    headers = [headers[0], headers[2]] + ([f"Content-Transfer-Encoding:{encoding}"] if encoding else [])
    body = multipart(statements_part(statement(attachments=[TEXT_ATTACHMENT])), (headers, data))

    refused(send(body), ((None, "malformed_request") if encoding == "base64" else ("parts.1", "malformed_request")))


def test_data_that_is_not_what_its_hash_says_is_400_not_kept_under_a_false_sha2():
    # The part names the attachment's sha2, but its bytes are other ones.
    body = multipart(statements_part(statement(attachments=[TEXT_ATTACHMENT])), data_part(b"tampered", sha2=TEXT_SHA2))

    [error] = refused(send(body), ("parts.1", "malformed_request"))

    assert f"not the {TEXT_SHA2}" in error["message"]


def test_xapi_00129_an_attachment_without_file_url_or_data_is_400_in_multipart_and_json():
    sent = statement(attachments=[TEXT_ATTACHMENT])

    refused(send(multipart(statements_part(sent))), ("statement.attachments.0.fileUrl", "required"))
    response = APIClient().post(URL, data=json.dumps(sent), content_type="application/json", headers=XAPI)
    refused(response, ("statement.attachments.0.fileUrl", "required"))


def test_without_the_header_an_attachment_without_file_url_is_422_its_data_cannot_come():
    response = APIClient().post(
        URL, data=json.dumps(statement(attachments=[TEXT_ATTACHMENT])), content_type="application/json"
    )

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["path"], error["code"]) == ("statement.attachments.0.fileUrl", "required")
    assert queued_events() == []


def test_xapi_00138_multipart_form_data_is_400():
    body = multipart(statements_part(statement(attachments=[TEXT_ATTACHMENT])), data_part(TEXT))

    refused(send(body, content_type=f"multipart/form-data; boundary={BOUNDARY}"), (None, "unsupported_media_type"))


def test_without_the_header_multipart_mixed_is_415_as_any_type_the_service_does_not_read():
    body = multipart(statements_part(statement(attachments=[TEXT_ATTACHMENT])), data_part(TEXT))

    response = APIClient().post(URL, data=body, content_type=MIXED)

    assert response.status_code == 415
    assert [error["code"] for error in response.json()["errors"]] == ["unsupported_media_type"]
    assert queued_events() == []


def test_an_empty_multipart_body_is_400():
    refused(send(b""), (None, "malformed_request"))


def test_the_body_limit_applies_to_the_whole_multipart_body(settings):
    settings.MAX_REQUEST_BYTES = 4096
    data = os.urandom(4096)
    attachment = {**TEXT_ATTACHMENT, "length": len(data), "sha2": hashlib.sha256(data).hexdigest()}

    refused(
        send(multipart(statements_part(statement(attachments=[attachment])), data_part(data))),
        (None, "payload_too_large"),
        status=413,
    )


def test_statements_sharing_an_attachment_carry_at_most_a_requests_worth_of_its_data(settings):
    # Sent once, carried by each record: 8 statements would make 8 copies of 1.5 KB of data.
    settings.MAX_REQUEST_BYTES = 10_000
    data = os.urandom(1536)
    attachment = {**TEXT_ATTACHMENT, "length": len(data), "sha2": hashlib.sha256(data).hexdigest()}
    body = multipart(statements_part([statement(attachments=[attachment]) for _ in range(8)]), data_part(data))

    [error] = refused(send(body), (None, "payload_too_large"), status=413)

    assert "12,288 bytes of attachment data" in error["message"]


def test_a_statement_whose_record_would_pass_kafkas_limit_with_its_data_is_400_event_too_large(settings):
    settings.KAFKA_MESSAGE_MAX_BYTES = 8192
    data = os.urandom(8192)
    attachment = {**TEXT_ATTACHMENT, "length": len(data), "sha2": hashlib.sha256(data).hexdigest()}

    refused(
        send(multipart(statements_part(statement(attachments=[attachment])), data_part(data))),
        ("statement", "event_too_large"),
    )


# --- Data 2.6: signed statements ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_xapi_00117_a_statement_signed_with_rs256_rs384_or_rs512_is_accepted_with_its_signature(algorithm):
    sent, signature = signed(statement(), algorithm=algorithm)

    [record] = accepted(send(multipart(statements_part(sent), data_part(signature))))

    assert record["attachments"] == [{**sent["attachments"][0], "content": base64_text(signature)}]


def test_data_2_6_a_signature_with_an_x5c_certificate_is_verified_against_it():
    sent, signature = signed(statement(), x5c=[certificate("signer")])

    accepted(send(multipart(statements_part(sent), data_part(signature))))


def test_data_2_6_a_signature_that_does_not_verify_with_its_x5c_certificate_is_400():
    # Signed with one key, naming the certificate of another.
    sent, signature = signed(statement(), x5c=[certificate("someone else")])

    [error] = refused(
        send(multipart(statements_part(sent), data_part(signature))), ("statement.attachments.0", "invalid_signature")
    )

    assert "does not verify" in error["message"]


def test_xapi_00117_a_signature_of_another_algorithm_is_400():
    sent, signature = signed(statement(), algorithm="HS256")

    [error] = refused(
        send(multipart(statements_part(sent), data_part(signature))), ("statement.attachments.0", "invalid_signature")
    )

    assert "RS256, RS384 or RS512" in error["message"]


def test_xapi_00116_a_signature_whose_payload_is_not_json_is_400():
    # As the ADL suite breaks it: a quote of the JSON replaced.
    original = statement()
    signature = jws_compact(orjson.dumps(original).replace(b'"', b"'", 1))
    sent = {**original, "attachments": [signature_attachment(signature)]}

    [error] = refused(
        send(multipart(statements_part(sent), data_part(signature))), ("statement.attachments.0", "invalid_signature")
    )

    assert "not a JSON serialization" in error["message"]


def test_xapi_00116_a_signature_of_another_statement_is_400():
    original = statement()
    signature = jws_compact(orjson.dumps({**original, "verb": {"id": "http://adlnet.gov/expapi/verbs/failed"}}))
    sent = {**original, "attachments": [signature_attachment(signature)]}

    [error] = refused(
        send(multipart(statements_part(sent), data_part(signature))), ("statement.attachments.0", "invalid_signature")
    )

    assert "differ at statement.verb.id" in error["message"]


def test_data_2_3_1_a_signed_statement_is_compared_ignoring_what_xapi_does_not_count_as_a_difference():
    # Signed before an id, a version and the objectTypes were added, members in another order, a
    # timestamp in another zone, another verb display and activity definition, another attachment.
    group = {
        "objectType": "Group",
        "member": [{"mbox": "mailto:ada@EXAMPLE.edu"}, {"mbox": "mailto:grace@example.edu"}],
    }
    original = {
        **copy.deepcopy(BASE),
        "actor": group,
        "timestamp": "2024-03-12T17:04:05+02:00",
        "context": {"registration": "EC531277-B57B-4C15-8D91-D292C5B2B8F7"},
    }
    signature = jws_compact(orjson.dumps(original))
    sent = {
        **copy.deepcopy(original),
        "id": str(uuid.uuid4()),
        "version": "1.0.0",
        "actor": {
            "objectType": "Group",
            "member": [
                {"objectType": "Agent", "mbox": "mailto:grace@example.edu"},
                {"objectType": "Agent", "mbox": "mailto:ada@example.edu"},
            ],
        },
        "verb": {**BASE["verb"], "display": {"fr-FR": "a répondu"}},
        "object": {"objectType": "Activity", "id": BASE["object"]["id"]},
        "timestamp": "2024-03-12T15:04:05.000Z",
        "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7"},
        "attachments": [TEXT_ATTACHMENT, signature_attachment(signature)],
    }

    accepted(send(multipart(statements_part(sent), data_part(TEXT), data_part(signature))))


def test_xapi_00115_a_signature_whose_content_type_is_not_octet_stream_is_400():
    sent, signature = signed(statement())
    sent["attachments"][0]["contentType"] = "text/plain; charset=ascii"

    refused(
        send(multipart(statements_part(sent), data_part(signature))),
        ("statement.attachments.0.contentType", "invalid_value"),
    )


@pytest.mark.parametrize(
    "signature",
    [
        b"not a signature",
        b"eyJhbGciOiJSUzI1NiJ9.e30",
        b"e30.e30.e30",
        b"W10.e30.c2ln",
        b"\xff\xfe.\x00.\x01",
        b'{"payload": "e30", "protected": "eyJhbGciOiJSUzI1NiJ9", "signature": "c2ln"}',
    ],
    ids=["text", "two segments", "no alg", "header an array", "not ascii", "JSON serialization"],
)
def test_xapi_00115_data_that_is_no_compact_jws_is_400(signature):
    sent = statement(attachments=[signature_attachment(signature)])

    refused(
        send(multipart(statements_part(sent), data_part(signature))), ("statement.attachments.0", "invalid_signature")
    )


def test_a_signature_attachment_by_file_url_is_kept_as_sent_unchecked():
    # Its data is not in the request: xAPI has a JSON request whose attachments all have a fileUrl
    # accepted (Communication 1.5.1), and nothing here could check it.
    attachment = signature_attachment(b"elsewhere", fileUrl="https://openstax.org/signatures/1")
    response = APIClient().post(
        URL, data=json.dumps(statement(attachments=[attachment])), content_type="application/json", headers=XAPI
    )

    [record] = accepted(response)
    assert record["attachments"] == [attachment]
