"""The ingestion endpoint's refusals: none of these need Redis or Kafka, nothing is queued."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from django.conf import settings
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


def test_a_small_gzip_body_of_many_items_is_refused_by_its_count_in_a_small_answer():
    # 1 KB of gzip holding 490,000 items: refused for their number, before any item is looked at.
    raw = gzip.compress(b'{"events":[' + b",".join([b"0"] * 490_000) + b"]}")
    assert len(raw) < 2_000

    response = APIClient().post(URL, data=raw, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "index": None,
            "path": "events",
            "code": "too_many_events",
            "message": f"a request may hold at most {settings.MAX_EVENTS_PER_REQUEST} events, got 490000",
        }
    ]
    assert len(response.content) < 1_000


def test_an_answer_lists_at_most_100_errors_and_counts_the_rest():
    # 300 events, each missing one required field: 300 errors.
    response = post(batch(*(nudged(session_uuid=...) for _ in range(300))))

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert len(errors) == 101
    assert {e["code"] for e in errors[:100]} == {"required"}
    assert [e["index"] for e in errors[:100]] == list(range(100))
    assert errors[100] == {
        "index": None,
        "path": None,
        "code": "more_errors",
        "message": "200 more errors are not listed",
    }
    assert response.json()["messages"][-1] == "200 more errors are not listed"


def test_it_accepts_an_empty_batch_without_queueing_anything():
    response = post({"events": []})
    assert response.status_code == 202
    assert response.json() == {"accepted": 0, "ids": [], "warnings": []}


def test_it_answers_a_get_with_405_in_the_error_shape():
    response = APIClient().get(URL)
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"


def test_it_rejects_a_body_over_the_limit_with_413():
    body = json.dumps(batch(nudged(app="x" * (2 * 1024 * 1024))))
    response = post(body)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"


def test_it_rejects_a_small_gzip_bomb_with_413():
    bomb = gzip.compress(b" " * (20 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    response = APIClient().post(URL, data=bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [("application/xml", ""), ("application/x-www-form-urlencoded", ""), ("text/html", ""), ("application/json", "br")],
)
def test_it_rejects_other_media_types_and_encodings_with_415(content_type, encoding):
    response = APIClient().post(
        URL, data=json.dumps(batch(nudged())), content_type=content_type, HTTP_CONTENT_ENCODING=encoding
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["code"] == "unsupported_media_type"


def test_it_rejects_json_nested_too_deeply_with_400():
    response = post('{"events": [{"data": ' + "[" * 100 + "]" * 100 + "}]}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "malformed_request"


@pytest.mark.parametrize(
    ("data", "path", "code"),
    [
        (
            {
                "type": "org.openstax.ec.created_highlight_v1",
                "source_metadata": {"book": 3},
            },
            "data.source_metadata.book",
            "invalid_type",
        ),
        (
            {"type": "org.openstax.ec.nudged_v1", "session_uuid": "ed3cdd93-6688-4fcb-b5b3"},
            "data.session_uuid",
            "invalid_format",
        ),
        ({"type": "org.openstax.ec.nudged_v1", "session_order": 2147483648}, "data.session_order", "invalid_value"),
        ({"type": "org.openstax.ec.nudged_v1", "session_order": 1.5}, "data.session_order", "invalid_type"),
        ({"type": "org.openstax.ec.nudged_v1", "source_uri": "books/physics"}, "data.source_uri", "invalid_format"),
        ({"type": "org.openstax.ec.nudged_v1", "session_order": True}, "data.session_order", "invalid_type"),
        ({"type": 42}, "data.type", "unknown_event_type"),
    ],
)
def test_it_reports_the_exact_path_and_code_of_a_bad_value(data, path, code):
    example = example_of(data["type"]) if isinstance(data["type"], str) else nudged()
    response = post(batch({**example, **data}))
    assert response.status_code == 422
    assert (path, code) in [(e["path"], e["code"]) for e in response.json()["errors"]]


def example_of(full_name):
    name, _, major = full_name.rpartition(".")[2].rpartition("_v")
    path = Path(settings.BASE_DIR) / f"schemas/org/openstax/ec/{name}/v{major}/example.json"
    return json.loads(path.read_text())


XAPI_URL = "/api/v0/xapi/statements"


def xapi_statement(**changes):
    path = Path(settings.BASE_DIR) / "schemas/org/adlnet/xapi/Statement/v1/example.json"
    return {**json.loads(path.read_text()), **changes}


def test_an_xapi_statement_with_an_unknown_top_level_key_is_422_unknown_field():
    response = APIClient().post(
        XAPI_URL, data=json.dumps(xapi_statement(colour="red")), content_type="application/json"
    )
    assert response.status_code == 422
    assert [(e["index"], e["code"]) for e in response.json()["errors"]] == [(0, "unknown_field")]


def test_xapi_problems_are_reported_by_position_in_the_array_and_nothing_is_accepted():
    valid = xapi_statement()
    no_actor = {key: value for key, value in xapi_statement().items() if key != "actor"}
    bad_verb = xapi_statement(verb={"display": {"en-US": "did"}})
    response = APIClient().post(XAPI_URL, data=json.dumps([valid, no_actor, bad_verb]), content_type="application/json")
    assert response.status_code == 422
    errors = {(e["index"], e["path"], e["code"]) for e in response.json()["errors"]}
    assert (1, "statement.actor", "required") in errors
    assert (2, "statement.verb.id", "required") in errors
    assert not any(index == 0 for index, _, _ in errors)


@pytest.mark.parametrize("body", ['"a statement"', "42", "null"])
def test_an_xapi_body_that_is_not_a_statement_or_an_array_is_400(body):
    response = APIClient().post(XAPI_URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "malformed_request"


def test_an_xapi_array_of_too_many_items_is_refused_by_its_count(settings):
    settings.MAX_EVENTS_PER_REQUEST = 2
    response = APIClient().post(XAPI_URL, data=json.dumps([0, 0, 0]), content_type="application/json")
    assert response.status_code == 422
    assert [e["code"] for e in response.json()["errors"]] == ["too_many_events"]


@pytest.mark.parametrize(
    "where",
    ["app", "session_uuid", "source_uri", "key", "nested"],
)
def test_text_utf8_cannot_hold_is_malformed_json_wherever_it_is(where):
    # A lone surrogate escape: valid JSON syntax, but no UTF-8 (and so no Avro string) holds it.
    event = json.dumps(batch(nudged()))
    lone = "\\ud800"
    if where == "key":
        raw = event.replace('"app"', f'"app{lone}"')
    elif where == "nested":
        raw = event.replace('"data": {', f'"extra": {{"deep": ["{lone}"]}}, "data": {{', 1)
    else:
        raw = event.replace(f'"{where}": "', f'"{where}": "{lone}', 1)
    assert lone in raw

    response = post(raw)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "malformed_json"


def test_an_xapi_statement_with_a_lone_surrogate_is_malformed_json():
    raw = json.dumps(xapi_statement()).replace('"en-US": "', '"en-US": "\\udfff', 1)
    assert "\\udfff" in raw
    response = APIClient().post(XAPI_URL, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "malformed_json"
