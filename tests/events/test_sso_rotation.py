"""Rotating the SSO keys signs no one out: several encryption and signature keys are accepted at
once, a token's kid chooses among them, and iss and aud are checked when configured. Through the
events endpoint with the SSO cookie (the user_uuid of the queued record, real Redis) and at the
function level; the start-up checks name every bad key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from joserfc.jwk import ECKey
from rest_framework.test import APIClient

from events.checks import sso_keys_check
from events.identity import identity_from_request
from events.sso import SsoKeyError, sso_keys_load, sso_user_uuid
from tests.factories import batch, nudged
from tests.queues import queued_events
from tests.sso_tokens import (
    SsoKeys,
    sso_jwks,
    sso_keys,
    sso_kid,
    sso_settings,
    sso_token,
    with_encryption,
    with_signature,
)

ROOT = Path(__file__).resolve().parents[2]
USER = "3f6c2a9e-8d41-4b7a-9c55-1e2d3c4b5a69"
ISSUER, AUDIENCE = "OpenStax Accounts", "OpenStax"


@pytest.fixture(scope="module")
def old() -> SsoKeys:
    return sso_keys()


@pytest.fixture(scope="module")
def new() -> SsoKeys:
    return sso_keys()


@pytest.fixture(scope="module")
def stranger() -> SsoKeys:
    return sso_keys()


def configure(settings: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(settings, name, value)


def loaded(values: dict[str, Any]) -> Any:
    """The keys ``sso_settings`` values make, as the service loads them."""
    return sso_keys_load(
        encryption_key=values["SSO_ENCRYPTION_KEY"],
        signature_public_key=values["SSO_SIGNATURE_PUBLIC_KEY"],
        encryption_key_fallbacks=values["SSO_ENCRYPTION_KEY_FALLBACKS"],
        signature_public_key_fallbacks=values["SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS"],
    )


def user_over_http(token: str) -> str | None:
    """The user_uuid the events endpoint queued an event with, for a request carrying ``token`` in
    the SSO cookie."""
    client = APIClient()
    client.cookies[django_settings.SSO_COOKIE_NAME] = token
    response = client.post("/api/v0/events", batch(nudged()), format="json")
    assert response.status_code == 202, response.content
    [event] = queued_events()
    user_uuid: str | None = event.record["user_uuid"]
    return user_uuid


def user_of(token: str) -> str | None:
    """The identity's user for a request carrying ``token`` as a bearer token."""
    request = RequestFactory().post("/api/v0/events", headers={"Authorization": f"Bearer {token}"})
    return identity_from_request(request).user_uuid


# --- Rotations, through the events endpoint ------------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue", "empty_queue")
def test_rotating_the_signature_key_signs_no_one_out(settings, old, new):
    signed_by_old = sso_token(user_uuid=USER, keys=old)
    signed_by_new = sso_token(user_uuid=USER, keys=with_signature(old, new))

    configure(settings, sso_settings(old))
    assert [user_over_http(signed_by_old), user_over_http(signed_by_new)] == [USER, None]

    # 1. The new public key beside the old one, before the SSO service signs with it.
    configure(settings, sso_settings(old, signature_fallbacks=[new]))
    assert [user_over_http(signed_by_old), user_over_http(signed_by_new)] == [USER, USER]

    # 2. The SSO service signs with the new key: it becomes current, the old one a fallback.
    configure(settings, sso_settings(with_signature(old, new), signature_fallbacks=[old]))
    assert [user_over_http(signed_by_old), user_over_http(signed_by_new)] == [USER, USER]

    # 3. The old key removed: only what it signed is anonymous.
    configure(settings, sso_settings(with_signature(old, new)))
    assert [user_over_http(signed_by_old), user_over_http(signed_by_new)] == [None, USER]


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue", "empty_queue")
def test_rotating_the_encryption_key_signs_no_one_out(settings, old, new):
    encrypted_with_old = sso_token(user_uuid=USER, keys=old)
    encrypted_with_new = sso_token(user_uuid=USER, keys=with_encryption(old, new))

    configure(settings, sso_settings(old))
    assert [user_over_http(encrypted_with_old), user_over_http(encrypted_with_new)] == [USER, None]

    # 1. The new key beside the old one, before the SSO service encrypts with it.
    configure(settings, sso_settings(old, encryption_fallbacks=[new]))
    assert [user_over_http(encrypted_with_old), user_over_http(encrypted_with_new)] == [USER, USER]

    # 2. The SSO service encrypts with the new key: it becomes current, the old one a fallback.
    configure(settings, sso_settings(with_encryption(old, new), encryption_fallbacks=[old]))
    assert [user_over_http(encrypted_with_old), user_over_http(encrypted_with_new)] == [USER, USER]

    # 3. The old key removed.
    configure(settings, sso_settings(with_encryption(old, new)))
    assert [user_over_http(encrypted_with_old), user_over_http(encrypted_with_new)] == [None, USER]


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue", "empty_queue")
def test_an_issuer_or_audience_not_configured_is_refused_over_http(settings, old):
    configure(settings, sso_settings(old, issuer=[ISSUER], audience=[AUDIENCE]))
    assert user_over_http(sso_token(user_uuid=USER, keys=old, iss=ISSUER, aud=AUDIENCE)) == USER
    assert user_over_http(sso_token(user_uuid=USER, keys=old, iss="Someone Else", aud=AUDIENCE)) is None
    assert user_over_http(sso_token(user_uuid=USER, keys=old, iss=ISSUER, aud="Another Service")) is None


# --- Several keys, at the function level ----------------------------------------------------------


def test_every_combination_of_accepted_keys_opens_a_token_and_no_other_key_does(old, new, stranger):
    keys = loaded(sso_settings(old, encryption_fallbacks=[new], signature_fallbacks=[new]))
    for encrypter in (old, new):
        for signer in (old, new):
            token = sso_token(user_uuid=USER, keys=with_signature(with_encryption(old, encrypter), signer))
            assert sso_user_uuid(token, keys=keys) == USER
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=with_signature(old, stranger)), keys=keys) is None
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=with_encryption(old, stranger)), keys=keys) is None


def test_fallbacks_may_be_given_as_comma_separated_keys(old, new, stranger):
    values = sso_settings(old)
    values["SSO_ENCRYPTION_KEY_FALLBACKS"] = f"{stranger.encryption_key}, {new.encryption_key}"
    keys = loaded(values)
    assert len(keys.encryption_keys) == 3
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=with_encryption(old, new)), keys=keys) == USER


def test_the_current_keys_come_first_then_the_fallbacks_in_their_order(old, new, stranger):
    keys = loaded(sso_settings(old, encryption_fallbacks=[new, stranger], signature_fallbacks=[stranger, new]))
    assert [key.kid for key in keys.encryption_keys] == [
        sso_kid(old, of="encryption"),
        sso_kid(new, of="encryption"),
        sso_kid(stranger, of="encryption"),
    ]
    assert [key.kid for key in keys.signature_keys] == [
        sso_kid(old, of="signature"),
        sso_kid(stranger, of="signature"),
        sso_kid(new, of="signature"),
    ]


def test_signature_fallbacks_may_be_a_jwks(old, new):
    values = sso_settings(old)
    values["SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS"] = sso_jwks((new, "2026-01"), use="sig", alg="RS256")
    keys = loaded(values)
    assert [key.kid for key in keys.signature_keys] == [sso_kid(old, of="signature"), "2026-01"]
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=with_signature(old, new)), keys=keys) == USER


# --- A kid chooses the key ---------------------------------------------------------------------


def test_a_signature_kid_a_jwks_names_chooses_that_key_alone(old, new):
    values = sso_settings(old)
    values["SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS"] = sso_jwks((new, "2026-01"))
    keys = loaded(values)
    signed_by_new = with_signature(old, new)
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=signed_by_new, signature_kid="2026-01"), keys=keys) == USER
    # The kid names the new key, so the old one that did sign is not tried.
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=old, signature_kid="2026-01"), keys=keys) is None
    # A kid no key carries, or none: each key in turn.
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=signed_by_new, signature_kid="2019"), keys=keys) == USER
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=signed_by_new), keys=keys) == USER


def test_a_pem_keys_kid_is_its_thumbprint(old, new):
    keys = loaded(sso_settings(old, signature_fallbacks=[new]))
    kid_of_new, kid_of_old = sso_kid(new, of="signature"), sso_kid(old, of="signature")
    signed_by_new = with_signature(old, new)
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=signed_by_new, signature_kid=kid_of_new), keys=keys) == USER
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=old, signature_kid=kid_of_old), keys=keys) == USER
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=old, signature_kid=kid_of_new), keys=keys) is None
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=signed_by_new, signature_kid=kid_of_old), keys=keys) is None


def test_an_encryption_kid_chooses_the_encryption_key(old, new):
    keys = loaded(sso_settings(old, encryption_fallbacks=[new]))
    kid_of_new, kid_of_old = sso_kid(new, of="encryption"), sso_kid(old, of="encryption")
    encrypted_with_new = with_encryption(old, new)
    token = sso_token(user_uuid=USER, keys=encrypted_with_new, encryption_kid=kid_of_new)
    assert sso_user_uuid(token, keys=keys) == USER
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=old, encryption_kid=kid_of_old), keys=keys) == USER
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=old, encryption_kid=kid_of_new), keys=keys) is None
    assert sso_user_uuid(sso_token(user_uuid=USER, keys=encrypted_with_new, encryption_kid="k-1"), keys=keys) == USER


def test_a_kid_spares_the_keys_it_does_not_name(old, new, stranger, monkeypatch):
    from events import sso as sso_module

    values = sso_settings(old)
    values["SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS"] = sso_jwks((stranger, "spare"), (new, "2026-01"))
    keys = loaded(values)
    chosen: list[list[str | None]] = []
    real = sso_module._keys_for

    def recording(candidates, kid):
        picked = real(candidates, kid)
        chosen.append([key.kid for key in picked])
        return picked

    monkeypatch.setattr(sso_module, "_keys_for", recording)
    token = sso_token(user_uuid=USER, keys=with_signature(old, new), signature_kid="2026-01")
    assert sso_user_uuid(token, keys=keys) == USER
    # The encryption keys (one, no kid named), then the signature key the kid names, alone.
    assert chosen == [[sso_kid(old, of="encryption")], ["2026-01"]]


# --- iss and aud ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [{}, {"iss": "Anyone", "aud": "Anything"}, {"iss": ISSUER, "aud": [AUDIENCE, "Tutor"]}],
)
def test_without_an_issuer_or_audience_configured_neither_is_checked(settings, old, claims):
    configure(settings, sso_settings(old))
    assert user_of(sso_token(user_uuid=USER, keys=old, **claims)) == USER


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"iss": ISSUER, "aud": AUDIENCE}, USER),
        ({"iss": ISSUER, "aud": ["Tutor", AUDIENCE]}, USER),
        ({"iss": "Someone Else", "aud": AUDIENCE}, None),
        ({"iss": ISSUER, "aud": "Tutor"}, None),
        ({"iss": ISSUER, "aud": ["Tutor"]}, None),
        ({"aud": AUDIENCE}, None),
        ({"iss": ISSUER}, None),
        ({"iss": [ISSUER], "aud": AUDIENCE}, None),
        ({"iss": ISSUER.lower(), "aud": AUDIENCE}, None),
    ],
)
def test_a_configured_issuer_and_audience_must_match(settings, old, claims, expected):
    configure(settings, sso_settings(old, issuer=[ISSUER], audience=[AUDIENCE]))
    assert user_of(sso_token(user_uuid=USER, keys=old, **claims)) == expected


def test_several_issuers_may_be_accepted_while_the_issuer_changes_its_name(settings, old):
    configure(settings, sso_settings(old, issuer=[ISSUER, "accounts.openstax.org"]))
    assert user_of(sso_token(user_uuid=USER, keys=old, iss=ISSUER)) == USER
    assert user_of(sso_token(user_uuid=USER, keys=old, iss="accounts.openstax.org")) == USER
    assert user_of(sso_token(user_uuid=USER, keys=old, iss="elsewhere")) is None


# --- Start-up checks: every key, each named --------------------------------------------------------


def _errors(messages: list[checks.CheckMessage]) -> list[tuple[str | None, str]]:
    return [(message.id, message.msg) for message in messages]


def test_every_encryption_fallback_is_checked_and_each_bad_one_named(settings, old, new):
    configure(settings, sso_settings(old))
    settings.SSO_ENCRYPTION_KEY_FALLBACKS = json.dumps([new.encryption_key, "k" * 31, "é" * 17])
    messages = sso_keys_check()
    assert _errors(messages) == [
        ("events.E001", "SSO_ENCRYPTION_KEY_FALLBACKS key 2 must be exactly 32 bytes once UTF-8 encoded, got 31."),
        ("events.E001", "SSO_ENCRYPTION_KEY_FALLBACKS key 3 must be exactly 32 bytes once UTF-8 encoded, got 34."),
    ]
    assert all(message.hint for message in messages)


def test_encryption_fallbacks_that_are_not_a_json_array_of_strings_are_an_error(settings, old):
    configure(settings, sso_settings(old))
    for value in ('["unterminated', '{"keys": 1}', "[1, 2]"):
        settings.SSO_ENCRYPTION_KEY_FALLBACKS = value
        [message] = sso_keys_check()
        assert message.id == "events.E001"
        assert message.msg.startswith("SSO_ENCRYPTION_KEY_FALLBACKS ")


def test_every_signature_fallback_is_checked_and_each_bad_one_named(settings, old, new, stranger):
    configure(settings, sso_settings(old))
    ec_key = ECKey.generate_key("P-256").as_pem(private=False).decode()
    private = stranger.private_key.as_pem(private=True).decode()
    settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS = "\n".join(["# next", new.public_pem, ec_key, private])
    messages = sso_keys_check()
    assert [message.id for message in messages] == ["events.E002", "events.E002"]
    assert messages[0].msg.startswith("SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS key 2 is not an RSA public key in PEM form")
    assert messages[1].msg == (
        "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS key 3 holds a private key; give only the public key."
    )
    assert "BEGIN" not in messages[0].msg + messages[1].msg


def test_every_key_of_a_jwks_is_checked_and_each_bad_one_named_with_its_kid(settings, old, new):
    configure(settings, sso_settings(old))
    good, for_encryption, for_ps256, private, ec = (
        json.loads(sso_jwks((new, kid)))["keys"][0] for kid in ("good", "enc", "ps", "private", "ec")
    )
    for_encryption["use"] = "enc"
    for_ps256["alg"] = "PS256"
    private.update(new.private_key.as_dict(private=True), kid="private")
    ec.update(ECKey.generate_key("P-256").as_dict(private=False), kid="ec")
    settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS = json.dumps({"keys": [good, for_encryption, for_ps256, private, ec]})
    assert _errors(sso_keys_check()) == [
        ("events.E002", "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS key 2 (kid 'enc') is not for signatures (use 'enc')."),
        ("events.E002", "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS key 3 (kid 'ps') is for 'PS256', not RS256."),
        (
            "events.E002",
            "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS key 4 (kid 'private') holds a private key; give only the public key.",
        ),
        ("events.E002", "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS key 5 (kid 'ec') is not an RSA key (kty 'EC')."),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a key at all", "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS holds neither PEM blocks nor a JWKS."),
        (
            "{not json",
            "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS is not a JWKS (JSON): "
            "Expecting property name enclosed in double quotes.",
        ),
        (
            '{"keys": []}',
            'SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS must be a JWKS: {"keys": [...]} holding at least one key.',
        ),
        (
            '{"kty": "RSA"}',
            'SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS must be a JWKS: {"keys": [...]} holding at least one key.',
        ),
    ],
)
def test_signature_fallbacks_that_hold_no_keys_are_an_error(settings, old, value, message):
    configure(settings, sso_settings(old))
    settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS = value
    assert _errors(sso_keys_check()) == [("events.E002", message)]


@pytest.mark.parametrize("among", [False, True])
def test_a_pem_block_cut_short_is_an_error_alone_or_among_good_ones(settings, old, new, among):
    configure(settings, sso_settings(old))
    cut_short = "-----BEGIN PUBLIC KEY-----\nAAAA\n"
    settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS = (new.public_pem if among else "") + cut_short
    assert _errors(sso_keys_check()) == [
        ("events.E002", "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS holds a PEM block without its matching END line.")
    ]


def test_a_bad_current_key_and_a_bad_fallback_are_both_reported(settings, old):
    configure(settings, sso_settings(old))
    settings.SSO_ENCRYPTION_KEY, settings.SSO_ENCRYPTION_KEY_FALLBACKS = "k" * 31, "k" * 33
    settings.SSO_SIGNATURE_PUBLIC_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS = "not a pem", "nor this"
    assert [(message.id, message.msg.split(" ")[0]) for message in sso_keys_check()] == [
        ("events.E001", "SSO_ENCRYPTION_KEY"),
        ("events.E001", "SSO_ENCRYPTION_KEY_FALLBACKS"),
        ("events.E002", "SSO_SIGNATURE_PUBLIC_KEY"),
        ("events.E002", "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS"),
    ]


def test_good_fallbacks_pass_the_checks(settings, old, new, stranger):
    configure(settings, sso_settings(old, encryption_fallbacks=[new, stranger], signature_fallbacks=[new, stranger]))
    assert sso_keys_check() == []
    settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS = sso_jwks((new, "a"), (stranger, None))
    assert sso_keys_check() == []


def test_fallbacks_issuer_or_audience_without_sso_are_a_warning(settings, new):
    configure(settings, sso_settings(new, encryption_fallbacks=[new], signature_fallbacks=[new], issuer=[ISSUER]))
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = "", ""
    [message] = sso_keys_check()
    assert message.id == "events.W001"
    assert message.msg.startswith(
        "SSO_ENCRYPTION_KEY_FALLBACKS, SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS, SSO_ISSUER are set but SSO_ENCRYPTION_KEY"
    )


def test_a_bad_fallback_that_got_past_the_checks_is_improperly_configured_not_anonymous(settings, old):
    configure(settings, sso_settings(old))
    settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS = "not a pem"
    with pytest.raises(ImproperlyConfigured, match="SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS"):
        user_of(sso_token(user_uuid=USER, keys=old))
    with pytest.raises(SsoKeyError):
        sso_keys_load(
            encryption_key=old.encryption_key, signature_public_key=old.public_pem, encryption_key_fallbacks="x"
        )


def test_start_up_reads_the_fallbacks_from_files_and_names_each_bad_key(tmp_path, old, new):
    """The `_FILE` forms, as a deployment mounts them: a bundle of PEM blocks, a JSON array."""
    pems, encryption_keys = tmp_path / "sso_public_keys.pem", tmp_path / "sso_encryption_keys.json"
    pems.write_text(new.public_pem + ECKey.generate_key("P-256").as_pem(private=False).decode())
    encryption_keys.write_text(json.dumps([new.encryption_key, "too short"]) + "\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
            "DEBUG": "true",
            "SECRET_KEY": "",
            "SSO_ENCRYPTION_KEY": old.encryption_key,
            "SSO_SIGNATURE_PUBLIC_KEY": old.public_pem.replace("\n", "\\n"),
            "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS_FILE": str(pems),
            "SSO_ENCRYPTION_KEY_FALLBACKS_FILE": str(encryption_keys),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    reported = [line for line in result.stderr.splitlines() if line.startswith("?: (events.")]
    assert len(reported) == 2, result.stderr
    assert reported[0] == (
        "?: (events.E001) SSO_ENCRYPTION_KEY_FALLBACKS key 2 must be exactly 32 bytes once UTF-8 encoded, got 9."
    )
    assert reported[1].startswith(
        "?: (events.E002) SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS key 2 is not an RSA public key in PEM form"
    )
