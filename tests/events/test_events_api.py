"""The ingestion endpoint's refusals: none of these need Redis or Kafka, nothing is queued."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.factories import batch, nudged

pytestmark = pytest.mark.usefixtures("catalogue")
URL = "/api/v0/events"


def post(body, content_type="application/json"):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return APIClient().post(URL, data=raw, content_type=content_type)


def test_it_rejects_an_unknown_event_type_with_422():
    response = post(batch(nudged(type="org.openstax.ec.no_such_v1")))
    assert response.status_code == 422
    assert response.json() == {
        "status_code": 422,
        "messages": ["Event [0]: type 'org.openstax.ec.no_such_v1' is not an active event type"],
        "errors": [
            {
                "index": 0,
                "path": "data.type",
                "code": "unknown_event_type",
                "message": "type 'org.openstax.ec.no_such_v1' is not an active event type",
            }
        ],
    }


def test_it_lists_every_problem_of_every_event_and_accepts_none():
    response = post(batch(nudged(), nudged(session_uuid=...), nudged(session_uuid="nope", session_order="1")))
    assert response.status_code == 422
    errors = [(e["index"], e["path"], e["code"]) for e in response.json()["errors"]]
    assert sorted(errors) == [
        (1, "data.session_uuid", "required"),
        (2, "data.session_order", "invalid_type"),
        (2, "data.session_uuid", "invalid_format"),
    ]
    assert "Event [1]: session_uuid is required" in response.json()["messages"]


@pytest.mark.parametrize(
    ("override", "path", "code"),
    [
        ({"source_uri": "/books/physics"}, "data.source_uri", "invalid_format"),
        ({"source_uri": "ftp://openstax.org/f"}, "data.source_uri", "invalid_format"),
        ({"session_order": 2**31}, "data.session_order", "invalid_value"),
        ({"client_clock_sent_at": "yesterday"}, "data.client_clock_sent_at", "invalid_format"),
        ({"app": 7}, "data.app", "invalid_type"),
    ],
)
def test_it_rejects_values_the_schema_forbids_with_422(override, path, code):
    response = post(batch(nudged(**override)))
    assert response.status_code == 422
    assert [(e["path"], e["code"]) for e in response.json()["errors"]] == [(path, code)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "malformed_json"),
        ("[]", "malformed_request"),
        ("{}", "malformed_request"),
        ('{"events": {}}', "malformed_request"),
        ('{"events": [{"nodata": 1}]}', "malformed_request"),
        ('{"events": [{"data": []}]}', "malformed_request"),
    ],
)
def test_it_rejects_a_malformed_body_with_400(body, code):
    response = post(body)
    assert response.status_code == 400
    assert response.json()["status_code"] == 400
    assert {e["code"] for e in response.json()["errors"]} == {code}


def test_it_rejects_other_media_types_with_415():
    response = post("<events/>", content_type="application/xml")
    assert response.status_code == 415
    assert response.json()["errors"][0]["code"] == "unsupported_media_type"


def test_it_rejects_more_events_than_allowed_with_422(settings):
    settings.MAX_EVENTS_PER_REQUEST = 2
    response = post(batch(nudged(), nudged(), nudged()))
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "too_many_events"


def test_it_accepts_an_empty_batch_without_queueing_anything():
    response = post({"events": []})
    assert response.status_code == 202
    assert response.json() == {"accepted": 0, "ids": [], "warnings": []}


def test_it_answers_a_get_with_405_in_the_error_shape():
    response = APIClient().get(URL)
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"
