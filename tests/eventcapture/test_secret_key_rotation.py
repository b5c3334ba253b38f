"""Rotating SECRET_KEY (docs/configuration.md, "Rotating the secret key"): with the old key moved to
SECRET_KEY_FALLBACKS, what it signed is still accepted; without it, it is void."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.eventcapture.production_env import CHECKOUT_ENV_OVERRIDES, ROOT

OLD_KEY = secrets.token_urlsafe(50)
NEW_KEY = secrets.token_urlsafe(50)
SIGN = "from django.core import signing; print(signing.dumps('the old key signed this'))"
UNSIGN = "from django.core import signing; print(signing.loads({value!r}))"
# An admin page for signed-in staff only, that needs nothing but the database.
ADMIN_PAGE = "/admin/password_change/"


def with_settings(script: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Runs ``script`` in a process whose settings come from these variables."""
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
            **CHECKOUT_ENV_OVERRIDES,
            **variables,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_value_signed_with_the_old_key_validates_after_rotation_from_the_fallbacks_file(tmp_path):
    signed = with_settings(SIGN, SECRET_KEY=OLD_KEY)
    assert signed.returncode == 0, signed.stderr
    value = signed.stdout.strip()
    fallbacks = tmp_path / "secret_key_fallbacks"
    fallbacks.write_text(f"{secrets.token_urlsafe(50)}\n{OLD_KEY}\n")

    rotated = with_settings(UNSIGN.format(value=value), SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS_FILE=str(fallbacks))
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == "the old key signed this"

    dropped = with_settings(UNSIGN.format(value=value), SECRET_KEY=NEW_KEY)
    assert dropped.returncode != 0
    assert "BadSignature" in dropped.stderr


def test_the_fallbacks_are_read_from_the_environment_comma_separated():
    other = secrets.token_urlsafe(50)
    result = with_settings(
        "from django.conf import settings; print(settings.SECRET_KEY_FALLBACKS == ["
        + repr(OLD_KEY)
        + ", "
        + repr(other)
        + "])",
        SECRET_KEY=NEW_KEY,
        SECRET_KEY_FALLBACKS=f" {OLD_KEY} ,{other}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.django_db
def test_an_admin_session_made_with_the_old_key_survives_rotation_and_moves_to_the_new_key(
    client, settings, django_user_model
):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    admin = django_user_model.objects.create_superuser("rotation-admin", "admin@example.org", "unused-password-1")
    client.force_login(admin)
    assert client.get(ADMIN_PAGE).status_code == 200

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert client.get(ADMIN_PAGE).status_code == 200
    # That request moved the session to the new key: the old one may now go.
    settings.SECRET_KEY_FALLBACKS = []
    assert client.get(ADMIN_PAGE).status_code == 200


@pytest.mark.django_db
def test_without_the_old_key_in_the_fallbacks_its_sessions_are_logged_out(client, settings, django_user_model):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    admin = django_user_model.objects.create_superuser("rotation-admin", "admin@example.org", "unused-password-1")
    client.force_login(admin)

    settings.SECRET_KEY = NEW_KEY
    response = client.get(ADMIN_PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
