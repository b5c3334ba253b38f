"""CORS: browsers may call /api/ with cookies from the configured origins only. By default none
(production trusts no site by accident); with DEBUG on, pages on this machine; the OpenStax sites'
patterns are a documented example (docs/configuration.md), tested here as a deployment would set them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from eventcapture.env import Env
from eventcapture.settings import DEVELOPMENT_CORS_ORIGIN_REGEXES
from tests.eventcapture.production_env import CHECKOUT_ENV_OVERRIDES, ROOT

ALLOWED = [
    "https://openstax.org",
    "https://staging.openstax.org",
    "https://a.b.openstax.org",
    "https://rex-web.herokuapp.com",
    "https://rex-web-issue-123-abc.herokuapp.com",
]
REFUSED = [
    "http://openstax.org",
    "https://openstax.org.evil.example",
    "https://evilopenstax.org",
    "https://openstax.org:8443",
    "https://other-app.herokuapp.com",
    "https://rex-web.herokuapp.com.evil.example",
    # Pages on the machine of whoever opens them: allowed only with DEBUG on.
    "http://localhost",
    "http://localhost:3000",
    "https://localhost:8443",
    "http://127.0.0.1:3000",
    "null",
]
DEVELOPMENT_ALLOWED = [
    "http://localhost",
    "http://localhost:3000",
    "https://localhost:8443",
    "http://127.0.0.1:8000",
    "http://[::1]:5173",
]
DEVELOPMENT_REFUSED = [
    "http://localhost.evil.example",
    "http://127.0.0.1.nip.io",
    "https://openstax.org",
    "http://localhost:3000/x",
]


def documented_example() -> list[str]:
    """The OpenStax sites' patterns as docs/configuration.md gives them, read as the settings read them."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    match = re.search(r"^CORS_ALLOWED_ORIGIN_REGEXES=(.+)$", text.split("### Browser origins (CORS)", 1)[1], re.M)
    assert match is not None, "docs/configuration.md has no CORS example"
    os.environ["EVENTCAPTURE_TEST_ORIGINS"] = match.group(1)
    try:
        return Env().pattern_list("EVENTCAPTURE_TEST_ORIGINS", default=[])
    finally:
        del os.environ["EVENTCAPTURE_TEST_ORIGINS"]


@pytest.fixture(autouse=True)
def openstax_origins(settings) -> None:
    settings.CORS_ALLOWED_ORIGIN_REGEXES = documented_example()


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


# --- The defaults --------------------------------------------------------------------------------


PRINT_CORS_SETTING = "import json, eventcapture.settings as s; print(json.dumps(s.CORS_ALLOWED_ORIGIN_REGEXES))"


def cors_setting(**variables: str) -> list[str]:
    """CORS_ALLOWED_ORIGIN_REGEXES as a process started with these variables has it."""
    result = subprocess.run(
        [sys.executable, "-c", PRINT_CORS_SETTING],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **CHECKOUT_ENV_OVERRIDES, "SECRET_KEY": "cors-test-key", **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_by_default_a_production_service_allows_no_origin():
    assert cors_setting(DEBUG="false") == []


def test_with_debug_on_pages_on_this_machine_are_allowed_besides_the_configured_origins():
    assert cors_setting(DEBUG="true") == DEVELOPMENT_CORS_ORIGIN_REGEXES
    assert cors_setting(DEBUG="true", CORS_ALLOWED_ORIGIN_REGEXES=r"^https://app\.example\.org$") == [
        r"^https://app\.example\.org$",
        *DEVELOPMENT_CORS_ORIGIN_REGEXES,
    ]


def test_with_no_origin_configured_even_openstax_gets_no_grant(settings):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = []
    assert "Access-Control-Allow-Origin" not in preflight("https://openstax.org")
    assert "Access-Control-Allow-Origin" not in preflight("http://localhost:3000")


@pytest.mark.parametrize("origin", DEVELOPMENT_ALLOWED)
def test_the_development_origins_are_this_machines_pages(settings, origin):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = DEVELOPMENT_CORS_ORIGIN_REGEXES
    assert preflight(origin)["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize("origin", DEVELOPMENT_REFUSED)
def test_the_development_origins_are_no_other_pages(settings, origin):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = DEVELOPMENT_CORS_ORIGIN_REGEXES
    assert "Access-Control-Allow-Origin" not in preflight(origin)
