"""CORS: browsers on OpenStax origins may call /api/ with cookies; other origins get no grant."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from eventcapture.settings import _regex_list

ALLOWED = [
    "https://openstax.org",
    "https://staging.openstax.org",
    "https://a.b.openstax.org",
    "https://rex-web.herokuapp.com",
    "https://rex-web-issue-123-abc.herokuapp.com",
    "http://localhost",
    "http://localhost:3000",
    "https://localhost:8443",
]
REFUSED = [
    "http://openstax.org",
    "https://openstax.org.evil.example",
    "https://evilopenstax.org",
    "https://openstax.org:8443",
    "https://other-app.herokuapp.com",
    "https://rex-web.herokuapp.com.evil.example",
    "http://localhost.evil.example",
    "http://127.0.0.1:3000",
    "null",
]


def preflight(origin: str, path: str = "/api/v0/events"):
    return APIClient().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )


@pytest.mark.parametrize("origin", ALLOWED)
def test_an_allowed_origin_gets_itself_back_with_credentials(origin):
    response = APIClient().post("/api/v0/events", {"events": []}, format="json", headers={"Origin": origin})
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == origin
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert "origin" in response["Vary"].lower()


@pytest.mark.parametrize("origin", REFUSED)
def test_a_refused_origin_gets_no_access_control_headers(origin):
    response = APIClient().post("/api/v0/events", {"events": []}, format="json", headers={"Origin": origin})
    assert response.status_code == 202
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


def test_a_preflight_for_a_json_post_with_authorization_is_granted():
    response = preflight("https://openstax.org")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://openstax.org"
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert response["Access-Control-Allow-Methods"] == "GET, OPTIONS, POST, PUT"
    allowed_headers = {header.strip() for header in response["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "content-encoding"} <= allowed_headers
    assert response["Access-Control-Max-Age"] == "86400"


def test_a_preflight_for_an_xapi_put_with_the_version_header_is_granted():
    response = APIClient().options(
        "/api/v0/xapi/statements?statementId=2f0e9a4c-6b1d-4c8e-9f3a-1b2c3d4e5f60",
        headers={
            "Origin": "https://openstax.org",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,authorization,x-experience-api-version",
        },
    )
    assert response.status_code == 200
    assert "PUT" in {method.strip() for method in response["Access-Control-Allow-Methods"].split(",")}
    allowed_headers = {header.strip() for header in response["Access-Control-Allow-Headers"].split(",")}
    assert "x-experience-api-version" in allowed_headers


def test_a_browser_may_read_the_lrs_version_and_the_request_id_headers_of_an_answer():
    response = APIClient().post(
        "/api/v0/events", {"events": []}, format="json", headers={"Origin": "https://openstax.org"}
    )
    assert response["Access-Control-Expose-Headers"] == "X-Experience-API-Version, X-Request-ID"


def test_a_preflight_from_a_refused_origin_is_not_granted():
    response = preflight("https://evil.example")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Methods" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/ping", "/schema-registry/subjects"])
def test_paths_outside_the_api_get_no_cors_headers(path):
    response = APIClient().get(path, headers={"Origin": "https://openstax.org"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_the_allowed_origins_follow_the_setting(settings):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://example\.org$"]
    assert preflight("https://example.org")["Access-Control-Allow-Origin"] == "https://example.org"
    assert "Access-Control-Allow-Origin" not in preflight("https://openstax.org")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"^https://a\.org$, ^https://b\.org$", [r"^https://a\.org$", r"^https://b\.org$"]),
        (r'["^https://a\\.org$", "^https://(x|y){1,2}\\.org$"]', [r"^https://a\.org$", r"^https://(x|y){1,2}\.org$"]),
        ("", ["default"]),
    ],
)
def test_the_origin_setting_is_a_comma_separated_list_or_a_json_array(monkeypatch, raw, expected):
    monkeypatch.setenv("TEST_ORIGINS", raw)
    assert _regex_list("TEST_ORIGINS", default=["default"]) == expected


@pytest.mark.parametrize("raw", ["^https://(unclosed$", '["^a$", 7]', "[not json"])
def test_an_invalid_origin_setting_stops_start_up(monkeypatch, raw):
    monkeypatch.setenv("TEST_ORIGINS", raw)
    with pytest.raises(ImproperlyConfigured):
        _regex_list("TEST_ORIGINS", default=[])
