"""The schema-registry API's open endpoints that parse and compare schemas (look-up, compatibility),
and its OpenAPI document, generated per request, are limited per client address
(RATE_LIMIT_REGISTRY_PER_IP), counted in the test Redis; its reads are not."""

from __future__ import annotations

import json

import pytest
from django.core.cache import caches
from django.test import Client

from eventcapture.ratelimits import throttling_reset
from registry.models import SchemaRevision

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue")]
NUDGED = "org.openstax.ec.nudged_v1"


@pytest.fixture(autouse=True)
def _counters(settings):
    settings.RATE_LIMIT_REGISTRY_PER_IP = "2/min"
    throttling_reset()
    caches["ratelimit"].clear()
    yield
    throttling_reset()


def post(path: str, address: str):
    schema = SchemaRevision.objects.get(major__full_name=NUDGED, revision=1).avro_schema
    return Client(REMOTE_ADDR=address).post(
        f"/schema-registry{path}", json.dumps({"schema": schema}), content_type="application/json"
    )


@pytest.mark.parametrize("path", [f"/subjects/{NUDGED}", f"/compatibility/subjects/{NUDGED}/versions/latest"])
def test_lookups_and_checks_past_the_rate_are_429_per_client_address(path):
    assert [post(path, "192.0.2.1").status_code for _ in range(2)] == [200, 200]

    refused = post(path, "192.0.2.1")

    assert refused.status_code == 429
    assert refused.json()["error_code"] == 42901
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert post(path, "192.0.2.2").status_code == 200
    # Reads are not limited.
    assert Client(REMOTE_ADDR="192.0.2.1").get(f"/schema-registry/subjects/{NUDGED}/versions").status_code == 200


def test_the_api_document_generated_per_request_is_limited_as_the_lookups_are():
    client = Client(REMOTE_ADDR="192.0.2.3")
    answers = [client.get("/schema-registry/openapi.json") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].json()["error_code"] == 42901
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert Client(REMOTE_ADDR="192.0.2.4").get("/schema-registry/openapi.json").status_code == 200
