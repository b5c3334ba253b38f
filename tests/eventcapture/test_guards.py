"""Production guards (eventcapture/guards.py): with DEBUG off, the WSGI application, the ASGI
application and the Celery worker refuse to start with settings that would leave the service open,
naming the variable; with the documented production environment they start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from eventcapture.guards import DEVELOPMENT_SECRET_KEY, production_problems
from tests.eventcapture.production_env import ROOT, production_environment

STRONG_KEY = secrets.token_urlsafe(50)
PRODUCTION: dict[str, Any] = {
    "debug": False,
    "secret_key": STRONG_KEY,
    "secret_key_fallbacks": [],
    "allowed_hosts": ["events.example.org"],
    "loadtesting_active": False,
    "trusted_proxies": ["172.16.0.0/12"],
    "secure_proxy_ssl_header": ("HTTP_X_FORWARDED_PROTO", "https"),
    "cors_allowed_origin_regexes": [r"^https://app\.example\.org$"],
}


def refused(**changes: Any) -> list[str]:
    """The variables production_problems names for the production settings with these changes."""
    return [problem.variable for problem in production_problems(**{**PRODUCTION, **changes})]


# --- What is refused -----------------------------------------------------------------------------


def test_the_documented_production_settings_are_not_refused():
    assert refused() == []


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"loadtesting_active": True}, "LOADTESTING_ACTIVE"),
        ({"secret_key": ""}, "SECRET_KEY"),
        ({"secret_key": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY"),
        ({"secret_key": "django-insecure-" + STRONG_KEY}, "SECRET_KEY"),
        ({"secret_key": STRONG_KEY[:49]}, "SECRET_KEY"),
        ({"secret_key": "abab" * 20}, "SECRET_KEY"),
        ({"secret_key_fallbacks": [secrets.token_urlsafe(50), "old-and-short"]}, "SECRET_KEY_FALLBACKS"),
        ({"secret_key_fallbacks": [DEVELOPMENT_SECRET_KEY]}, "SECRET_KEY_FALLBACKS"),
        ({"allowed_hosts": ["events.example.org", "*"]}, "ALLOWED_HOSTS"),
        ({"trusted_proxies": ["0.0.0.0/0"]}, "TRUSTED_PROXIES"),
        ({"trusted_proxies": ["10.0.0.0/8", "::/0"]}, "TRUSTED_PROXIES"),
        ({"trusted_proxies": []}, "SECURE_PROXY_SSL_HEADER"),
        ({"cors_allowed_origin_regexes": [".*"]}, "CORS_ALLOWED_ORIGIN_REGEXES"),
        (
            {"cors_allowed_origin_regexes": [r"^https://app\.example\.org$", r"^https?://.+$"]},
            "CORS_ALLOWED_ORIGIN_REGEXES",
        ),
    ],
)
def test_without_debug_an_unsafe_setting_is_refused_by_name(changes, variable):
    assert refused(**changes) == [variable]


def test_what_is_not_unsafe_is_not_refused():
    # No proxy in front: neither the header nor proxies; a pattern for the subdomains of one site.
    assert refused(secure_proxy_ssl_header=None, trusted_proxies=[]) == []
    assert refused(cors_allowed_origin_regexes=[r"^https://([a-z0-9-]+\.)*openstax\.org$"]) == []
    assert refused(allowed_hosts=[".example.org"], secret_key_fallbacks=[secrets.token_urlsafe(50)]) == []


UNSAFE = {
    "loadtesting_active": True,
    "secret_key": "short",
    "secret_key_fallbacks": ["short"],
    "allowed_hosts": ["*"],
    "trusted_proxies": ["0.0.0.0/0"],
    "cors_allowed_origin_regexes": [".*"],
}


def test_every_unsafe_setting_is_named_at_once_and_the_key_is_never_repeated():
    problems = production_problems(**{**PRODUCTION, **UNSAFE})
    assert [problem.variable for problem in problems] == [
        "LOADTESTING_ACTIVE",
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
        "ALLOWED_HOSTS",
        "TRUSTED_PROXIES",
        "CORS_ALLOWED_ORIGIN_REGEXES",
    ]
    assert len({problem.id for problem in problems}) == len(problems)
    key = "a-key-that-must-not-be-logged"
    assert all(key not in str(problem) for problem in production_problems(**{**PRODUCTION, "secret_key": key}))


def test_with_debug_on_nothing_is_refused():
    assert refused(debug=True, **UNSAFE) == []


# --- Where it is refused: each entry point, in a process of its own ------------------------------

ENTRY_POINTS = {
    "wsgi": [sys.executable, "-c", "import eventcapture.wsgi"],
    "asgi": [sys.executable, "-c", "import eventcapture.asgi"],
    # As the service runs it (scripts/run, docker/compose.yml), with no broker to reach: the guard
    # runs as the worker is built, before it connects to anything.
    "worker": [sys.executable, "-m", "celery", "-A", "eventcapture", "worker", "--loglevel", "INFO"],
}


def entry_point_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "RATELIMIT_CACHE_URL": "redis://127.0.0.1:1/1",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "WORKER_METRICS_PORT": "0",
        **production_environment(tmp_path),
        **variables,
    }


UNSAFE_ENVIRONMENTS = {
    "load-testing": ({"LOADTESTING_ACTIVE": "true"}, "LOADTESTING_ACTIVE is on while DEBUG is off"),
    "short-key": ({"SECRET_KEY_FILE": "", "SECRET_KEY": "short-but-set"}, "SECRET_KEY is shorter than 50"),
    "development-key": ({"SECRET_KEY_FILE": "", "SECRET_KEY": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY is the development"),
    "django-insecure-key": (
        {"SECRET_KEY_FILE": "", "SECRET_KEY": "django-insecure-" + STRONG_KEY},
        "SECRET_KEY is a development key",
    ),
    "weak-fallback": ({"SECRET_KEY_FALLBACKS": "old-and-short"}, "SECRET_KEY_FALLBACKS: key 1 is shorter"),
    "any-host": ({"ALLOWED_HOSTS": "events.example.org,*"}, "ALLOWED_HOSTS contains '*'"),
    "trust-everyone": ({"TRUSTED_PROXIES": "0.0.0.0/0"}, "TRUSTED_PROXIES trusts every address"),
    "proxy-by-name": ({"TRUSTED_PROXIES": "proxy.internal"}, "TRUSTED_PROXIES must be comma-separated IP addresses"),
    "proxy-header-without-proxies": ({"TRUSTED_PROXIES": ""}, "SECURE_PROXY_SSL_HEADER is set"),
    "cors-any-host": ({"CORS_ALLOWED_ORIGIN_REGEXES": "^https://.*$"}, "CORS_ALLOWED_ORIGIN_REGEXES: '^https://.*$'"),
    "debug-unparsable": ({"DEBUG": "maybe"}, "DEBUG must be true, false, 1, 0, yes or no"),
}


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", list(UNSAFE_ENVIRONMENTS))
def test_each_entry_point_refuses_to_start_naming_the_unsafe_variable(tmp_path, entry_point, case):
    variables, named = UNSAFE_ENVIRONMENTS[case]
    result = subprocess.run(
        ENTRY_POINTS[entry_point],
        cwd=ROOT,
        env=entry_point_env(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("entry_point", ["wsgi", "asgi"])
def test_the_applications_load_with_the_documented_production_environment(tmp_path, entry_point):
    result = subprocess.run(
        ENTRY_POINTS[entry_point],
        cwd=ROOT,
        env=entry_point_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_worker_starts_with_the_documented_production_environment(tmp_path):
    # Past the guard, the worker prints its banner (its queues) and goes on to connect to the
    # broker, here unreachable: far enough.
    output = tmp_path / "worker.log"
    with output.open("w") as log:
        worker = subprocess.Popen(
            ENTRY_POINTS["worker"],
            cwd=ROOT,
            env=entry_point_env(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            while "[queues]" not in output.read_text() and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    text = output.read_text()
    assert "[queues]" in text, text[-3000:]
    assert "ImproperlyConfigured" not in text
