"""What the ingestion endpoints accept, through the real queue (Redis)."""

from __future__ import annotations

import gzip
import json

import pytest
from rest_framework.test import APIClient

from tests.factories import batch, nudged

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue")]
URL = "/api/v0/events"


def test_it_accepts_a_batch_with_202_and_an_id_per_event_in_order():
    response = APIClient().post(URL, data=json.dumps(batch(nudged(), nudged())), content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert len(set(body["ids"])) == 2


def test_it_accepts_json_sent_as_text_plain_like_send_beacon():
    response = APIClient().post(URL, data=json.dumps(batch(nudged())), content_type="text/plain;charset=UTF-8")
    assert response.status_code == 202


def test_it_accepts_a_gzip_encoded_body():
    body = gzip.compress(json.dumps(batch(nudged())).encode())
    response = APIClient().post(URL, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 202
    assert response.json()["accepted"] == 1


def test_it_reports_unknown_fields_as_warnings_and_accepts_the_event():
    response = APIClient().post(URL, data=json.dumps(batch(nudged(colour="red"))), content_type="application/json")
    assert response.status_code == 202
    assert response.json()["warnings"] == ["Event [0]: unknown field 'colour' was dropped"]


def test_it_accepts_started_session_without_session_order():
    data = {
        "type": "org.openstax.ec.started_session_v1",
        "client_clock_occurred_at": "2020-10-06T18:14:22Z",
        "client_clock_sent_at": "2020-10-06T18:14:22Z",
        "source_uri": "https://openstax.org/books/physics",
        "session_uuid": "ed3cdd93-6688-4fcb-b5b3-da3e71052454",
        "referrer": "https://www.google.com/",
    }
    response = APIClient().post(URL, data=json.dumps(batch(data)), content_type="application/json")
    assert response.status_code == 202, response.json()


def test_it_accepts_an_xapi_statement_or_an_array_of_them(settings):
    statement = json.loads((settings.BASE_DIR / "schemas/org/adlnet/xapi/Statement/v1/example.json").read_text())
    single = APIClient().post("/api/v0/xapi/statements", data=json.dumps(statement), content_type="application/json")
    many = APIClient().post(
        "/api/v0/xapi/statements", data=json.dumps([statement, statement]), content_type="application/json"
    )
    assert (single.status_code, single.json()["accepted"]) == (202, 1)
    assert (many.status_code, many.json()["accepted"]) == (202, 2)


@pytest.mark.usefixtures("unreachable_queue")
def test_it_answers_503_with_retry_after_when_the_queue_is_down_and_accepts_nothing():
    response = APIClient().post(URL, data=json.dumps(batch(nudged())), content_type="application/json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["errors"][0]["code"] == "queue_unavailable"


def test_it_answers_json_whatever_the_accept_header_asks_for():
    response = APIClient().post(
        URL, data=json.dumps(batch(nudged())), content_type="application/json", HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
    assert response.json()["accepted"] == 1
