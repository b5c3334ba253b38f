"""Guessing passwords is slowed: failed logins (the registry API's Basic auth, the admin's form) are
counted per client address and per username, and past the limit refused with 429 and Retry-After."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.authtoken.models import Token

from eventcapture.ratelimits import throttling_reset
from tests.factories import registrar_create

pytestmark = pytest.mark.usefixtures("catalogue")
PASSWORD = "s3cret-pass"
NUDGED = "org.openstax.ec.nudged_v1"
CONFIG = f"/schema-registry/config/{NUDGED}"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 3


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def put_level(username: str, password: str, address: str = "192.0.2.1"):
    return Client(REMOTE_ADDR=address).put(
        CONFIG,
        json.dumps({"compatibility": "FULL"}),
        content_type="application/vnd.schemaregistry.v1+json",
        headers=basic(username, password),
    )


def test_basic_auth_guesses_up_to_the_limit_lock_out_even_the_right_password_with_429():
    registrar_create("registrar", PASSWORD)
    # The limit's failure is the first refused.
    assert [put_level("registrar", f"guess-{n}").status_code for n in range(3)] == [401, 401, 429]

    refused = put_level("registrar", PASSWORD)

    assert refused.status_code == 429
    assert refused.json()["error_code"] == 42901
    assert refused["Retry-After"] == "900"
    # The username is locked from another address too, and the address for another username.
    assert put_level("registrar", PASSWORD, address="198.51.100.7").status_code == 429
    registrar_create("other", PASSWORD)
    assert put_level("other", PASSWORD).status_code == 429
    assert put_level("other", PASSWORD, address="203.0.113.9").status_code == 200


def test_an_admin_login_clears_the_failures():
    get_user_model().objects.create_user("editor", password=PASSWORD, is_staff=True)
    for _ in range(2):
        browser = Client(REMOTE_ADDR="192.0.2.1")
        assert browser.post("/admin/login/", {"username": "editor", "password": "wrong"}).status_code == 200
        assert browser.post("/admin/login/", {"username": "editor", "password": "wrong"}).status_code == 200
        assert browser.post("/admin/login/", {"username": "editor", "password": PASSWORD}).status_code == 302


def test_admin_login_guesses_past_the_limit_are_429():
    get_user_model().objects.create_user("editor", password=PASSWORD, is_staff=True)
    browser = Client(REMOTE_ADDR="192.0.2.1")
    for n in range(2):
        answer = browser.post("/admin/login/", {"username": "editor", "password": f"guess-{n}"})
        assert answer.status_code == 200  # the form again, with its error
    assert browser.post("/admin/login/", {"username": "editor", "password": "guess-2"}).status_code == 429

    refused = browser.post("/admin/login/", {"username": "editor", "password": PASSWORD})

    assert refused.status_code == 429
    assert refused["Retry-After"] == "900"
    assert b"Too many failed logins" in refused.content


def test_passwords_are_validated():
    with pytest.raises(ValidationError):
        validate_password("12345678")
    with pytest.raises(ValidationError):
        validate_password("short")
    validate_password("a long enough and uncommon phrase")


@pytest.mark.integration
@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_failed_tokens_are_counted_per_address_and_past_the_limit_even_a_valid_one_is_429(keyword):
    caches["ratelimit"].clear()
    throttling_reset()
    token = Token.objects.create(user=registrar_create("registrar", PASSWORD))

    def put_with(key: str, address: str = "192.0.2.1"):
        return Client(REMOTE_ADDR=address).put(
            CONFIG,
            json.dumps({"compatibility": "FULL"}),
            content_type="application/vnd.schemaregistry.v1+json",
            headers={"Authorization": f"{keyword} {key}"},
        )

    assert [put_with(f"not-a-key-{n}").status_code for n in range(3)] == [401, 401, 429]
    refused = put_with(token.key)
    assert refused.status_code == 429
    assert refused.json()["error_code"] == 42901
    assert 1 <= int(refused["Retry-After"]) <= 900
    # Another address is not held back.
    assert put_with(token.key, address="198.51.100.7").status_code == 200
