"""Rate limits per client address and per SSO user, counted in Redis, failing open without it."""

from __future__ import annotations

import logging
import math
import uuid

import pytest
import redis
from django.core.cache import caches
from rest_framework.test import APIClient

from eventcapture.ratelimits import throttling_reset
from events.throttling import ClientIpRateThrottle, UserRateThrottle
from tests.ports import closed_port
from tests.sso_tokens import sso_keys, sso_settings, sso_token

URL = "/api/v0/events"
# A fixed clock 39.5 s before the end of its minute, so no window ends in the middle of a test.
NOW = 1_699_999_980.0 + 20.5  # 1_699_999_980 is a whole minute
WAIT = 60 - (NOW % 60)


@pytest.fixture
def clock(monkeypatch):
    for throttle in (ClientIpRateThrottle, UserRateThrottle):
        monkeypatch.setattr(throttle, "timer", staticmethod(lambda: NOW))


@pytest.fixture
def no_outage():
    throttling_reset()
    yield
    throttling_reset()


@pytest.fixture
def counters(no_outage):
    """Empty counters in the test Redis database."""
    caches["ratelimit"].clear()


def post(ip="203.0.113.7", **headers):
    return APIClient().post(URL, {"events": []}, format="json", REMOTE_ADDR=ip, headers=headers)


def throttled_body(seconds):
    message = f"Request was throttled. Expected available in {seconds} seconds."
    return {
        "status_code": 429,
        "messages": [message],
        "errors": [{"index": None, "path": None, "code": "rate_limited", "message": message}],
    }


@pytest.mark.integration
@pytest.mark.usefixtures("clock", "counters")
class TestWithRedis:
    def test_one_address_over_its_limit_gets_429_with_retry_after_in_the_error_shape(self, settings):
        settings.RATE_LIMIT_PER_IP = "3/min"
        assert [post().status_code for _ in range(3)] == [202, 202, 202]
        response = post()
        assert response.status_code == 429
        assert response["Retry-After"] == str(math.ceil(WAIT)) == "40"
        assert response.json() == throttled_body(40)

    def test_other_addresses_have_counters_of_their_own(self, settings):
        settings.RATE_LIMIT_PER_IP = "2/min"
        assert [post(ip="203.0.113.1").status_code for _ in range(3)] == [202, 202, 429]
        assert post(ip="203.0.113.2").status_code == 202
        assert post(ip="2001:db8::1").status_code == 202

    def test_the_counters_are_shared_through_redis(self, settings):
        settings.RATE_LIMIT_PER_IP = "2/min"
        assert [post().status_code for _ in range(2)] == [202, 202]
        # What any other web process sees in the same Redis database.
        keys = redis.Redis.from_url(settings.RATELIMIT_CACHE_URL).keys("*")
        assert [key for key in keys if b"throttle_ip_203.0.113.7:" in key] != []
        assert post().status_code == 429

    def test_a_signed_in_user_over_the_user_limit_gets_429_while_others_at_that_address_do_not(self, settings):
        keys = sso_keys()
        for name, value in sso_settings(keys).items():
            setattr(settings, name, value)
        settings.RATE_LIMIT_PER_USER = "2/min"
        alice = {"Authorization": f"Bearer {sso_token(user_uuid=str(uuid.uuid4()), keys=keys)}"}
        bob = {"Authorization": f"Bearer {sso_token(user_uuid=str(uuid.uuid4()), keys=keys)}"}
        assert [post(**alice).status_code for _ in range(3)] == [202, 202, 429]
        assert post(**alice).json() == throttled_body(40)
        assert post(**bob).status_code == 202
        assert post().status_code == 202
        # A user's limit follows the user to another address.
        assert post(ip="198.51.100.9", **alice).status_code == 429

    def test_limits_can_be_switched_off(self, settings):
        settings.RATE_LIMIT_PER_IP = "1/min"
        settings.RATE_LIMIT_ENABLED = False
        assert [post().status_code for _ in range(3)] == [202, 202, 202]

    def test_every_api_endpoint_is_limited(self, settings):
        settings.RATE_LIMIT_PER_IP = "1/min"
        client = APIClient(REMOTE_ADDR="203.0.113.7")
        assert client.get("/api/v0/info").status_code == 200
        assert client.get("/api/v0/info").status_code == 429

    @pytest.mark.django_db
    def test_the_schema_registry_api_and_ping_are_not_limited(self, settings):
        settings.RATE_LIMIT_PER_IP = "1/min"
        client = APIClient(REMOTE_ADDR="203.0.113.7")
        assert {client.get("/schema-registry/subjects").status_code for _ in range(3)} == {200}
        assert {client.get("/ping").status_code for _ in range(3)} == {200}


@pytest.mark.usefixtures("no_outage")
def test_without_the_cache_requests_are_allowed_and_a_warning_logged(settings, caplog):
    settings.RATE_LIMIT_PER_IP = "1/min"
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {**settings.CACHES["ratelimit"], "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"},
    }
    with caplog.at_level(logging.WARNING, logger="eventcapture.ratelimits"):
        assert [post().status_code for _ in range(3)] == [202, 202, 202]
    warnings = [record.getMessage() for record in caplog.records if record.name == "eventcapture.ratelimits"]
    # Once, not per request: the cache is left alone for a while after it failed.
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "rate limits not enforced for 5s: the rate-limit cache is unreachable (ConnectionError"
    )
