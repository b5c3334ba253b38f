"""Production settings: `check --deploy` is clean with the environment docs/configuration.md documents, `check`
names every setting the web and the worker would refuse (tests/eventcapture/test_guards.py), secrets
are read literally or from files, and load-test identities never reach production."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from eventcapture.settings import secret
from events.identity import LOAD_TEST_HEADER, identity_from_request
from tests.eventcapture.production_env import CHECKOUT_ENV_OVERRIDES, ROOT, documented_production_environment

USER = "0e4c0a4e-7c1e-4a6b-9a55-3f0e7c6b2f10"


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only what a production host would have: no test settings, and the checkout's .env (read by
    # settings for what the environment leaves unset) overridden where it matters.
    base = {"PATH": os.environ["PATH"], **CHECKOUT_ENV_OVERRIDES}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env, "DJANGO_SETTINGS_MODULE": "eventcapture.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    env = documented_production_environment()
    assert env["DEBUG"] == "false"
    key_file = tmp_path / "secret_key"
    key_file.write_text(secrets.token_urlsafe(50) + "\n")
    env["SECRET_KEY_FILE"] = str(key_file)

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_the_https_settings_check_deploy_names_what_is_missing(tmp_path):
    env = documented_production_environment()
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"):
        del env[name]
    env["SECRET_KEY_FILE"] = str(tmp_path / "secret_key")
    Path(env["SECRET_KEY_FILE"]).write_text(secrets.token_urlsafe(50))

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    for warning in ("security.W008", "security.W005", "security.W021"):
        assert warning in result.stderr + result.stdout


def test_load_testing_without_debug_stops_start_up(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text(secrets.token_urlsafe(50))
    result = manage("check", env={"DEBUG": "false", "SECRET_KEY_FILE": str(key_file), "LOADTESTING_ACTIVE": "true"})
    assert result.returncode != 0
    assert "events.E004" in result.stderr


def test_check_names_every_setting_the_web_and_the_worker_would_refuse():
    result = manage(
        "check",
        env={
            "DEBUG": "false",
            "SECRET_KEY": "too-short",
            "SECRET_KEY_FALLBACKS": "old-and-short",
            "ALLOWED_HOSTS": "*",
            "TRUSTED_PROXIES": "0.0.0.0/0",
            "CORS_ALLOWED_ORIGIN_REGEXES": ".*",
            "LOADTESTING_ACTIVE": "yes",
        },
    )
    assert result.returncode != 0
    for check_id, variable in [
        ("events.E004", "LOADTESTING_ACTIVE"),
        ("eventcapture.E001", "SECRET_KEY is shorter than 50 characters"),
        ("eventcapture.E002", "SECRET_KEY_FALLBACKS"),
        ("eventcapture.E003", "ALLOWED_HOSTS"),
        ("eventcapture.E004", "TRUSTED_PROXIES"),
        ("eventcapture.E006", "CORS_ALLOWED_ORIGIN_REGEXES"),
    ]:
        assert f"({check_id}) {variable}" in result.stderr, result.stderr
    assert "too-short" not in result.stderr


def test_check_is_clean_of_production_guards_with_debug_on():
    result = manage("check", env={"DEBUG": "true", "ALLOWED_HOSTS": "*", "LOADTESTING_ACTIVE": "true"})
    assert result.returncode == 0, result.stderr


def test_load_testing_is_allowed_with_debug(settings):
    settings.LOADTESTING_ACTIVE = True
    settings.DEBUG = True
    assert "events.E004" not in {message.id for message in checks.run_checks()}
    settings.DEBUG = False
    assert "events.E004" in {message.id for message in checks.run_checks()}


def test_the_load_test_header_never_names_an_admin(settings):
    settings.LOADTESTING_ACTIVE = True
    settings.ADMIN_UUIDS = [USER]
    other = "5f1d2c3b-4a59-4e8d-8c7b-6a5f4e3d2c1b"

    def user_of(header_value: str) -> str | None:
        request = RequestFactory().post("/api/v0/events", headers={LOAD_TEST_HEADER: header_value})
        return identity_from_request(request).user_uuid

    assert user_of(other) == other
    assert user_of(USER) is None


def test_a_secret_is_read_literally(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "$HOME-and-more")
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    assert secret("SECRET_KEY") == "$HOME-and-more"


def test_a_secret_is_read_from_the_file_its_file_form_names(monkeypatch, tmp_path):
    path = tmp_path / "token"
    path.write_text("s3cret $value\n")
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(path))
    assert secret("METRICS_TOKEN") == "s3cret $value"


def test_both_forms_of_a_secret_or_an_unreadable_file_are_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("METRICS_TOKEN", "one")
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(tmp_path / "token"))
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN or METRICS_TOKEN_FILE, not both"):
        secret("METRICS_TOKEN")
    monkeypatch.delenv("METRICS_TOKEN")
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN_FILE names a file that cannot be read"):
        secret("METRICS_TOKEN")


def test_the_service_reads_its_database_url_from_a_file(tmp_path):
    url_file = tmp_path / "database_url"
    url_file.write_text(f"sqlite:///{tmp_path / 'from-file.sqlite3'}\n")
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
            "DEBUG": "true",
            "SECRET_KEY": "",
            "DATABASE_URL_FILE": str(url_file),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "from-file.sqlite3")
