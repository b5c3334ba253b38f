"""The statements endpoint while the registry's active xAPI revision is still revision 1 (code
deployed, `load_schemas` not yet run): revision 1's open schema lets shapes through that the checks
and the record builder written for revision 2 never see otherwise; they must not fail on them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from kafka_bridge.targets import encoding_cache_clear
from registry.selectors import registry_cache_clear
from registry.services import catalogue_load
from tests.queues import queues_purge

pytestmark = [pytest.mark.integration]

REVISION_1 = Path(settings.BASE_DIR) / "tests/data/xapi_revision_1"
URL = "/api/v0/xapi/statements"


@pytest.fixture
def revision_1(db: None) -> Iterator[None]:
    registry_cache_clear()
    encoding_cache_clear()
    catalogue_load(root=REVISION_1)
    queues_purge()
    yield
    queues_purge()
    registry_cache_clear()
    encoding_cache_clear()


@pytest.mark.usefixtures("revision_1")
@pytest.mark.parametrize("headers", [{}, {"X-Experience-API-Version": "1.0.3"}])
def test_shapes_only_revision_1_lets_through_are_answered_not_failed_on(headers):
    statement = json.loads((REVISION_1 / "org/adlnet/xapi/Statement/v1/example.json").read_text())
    statement["object"]["definition"].update(interactionType="choice", choices="not a list")
    statement["context"]["contextActivities"]["grouping"] = "not a list"
    statement["result"]["score"] = {"raw": "8", "min": 0}

    response = APIClient().post(URL, data=json.dumps(statement), content_type="application/json", headers=headers)

    # Revision 1 types score.raw: refused in its own words, the rest let through as revision 1 did.
    assert response.status_code == (400 if headers else 422)
    assert [error["path"] for error in response.json()["errors"]] == ["statement.result.score.raw"]
    del statement["result"]["score"]
    accepted = APIClient().post(URL, data=json.dumps(statement), content_type="application/json", headers=headers)
    assert accepted.status_code == (200 if headers else 202), accepted.content


@pytest.mark.usefixtures("revision_1")
def test_attachment_data_revision_1_has_no_place_for_is_refused_not_dropped():
    data = b"here is a simple attachment"
    statement = json.loads((REVISION_1 / "org/adlnet/xapi/Statement/v1/example.json").read_text())
    statement["attachments"] = [
        {
            "usageType": "http://example.com/attachment-usage/test",
            "display": {"en-US": "A test attachment"},
            "description": {"en-US": "A test attachment"},
            "contentType": "text/plain",
            "length": len(data),
            "sha2": hashlib.sha256(data).hexdigest(),
        }
    ]
    body = (
        b"--b\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps(statement).encode()
        + b"\r\n--b\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: "
        + hashlib.sha256(data).hexdigest().encode()
        + b"\r\n\r\n"
        + data
        + b"\r\n--b--"
    )

    response = APIClient().post(
        URL, data=body, content_type="multipart/mixed; boundary=b", headers={"X-Experience-API-Version": "1.0.3"}
    )

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["code"] == "unsupported_media_type"
    assert "no place for an attachment's data" in error["message"]
