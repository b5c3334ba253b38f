from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from joserfc import jwe
from joserfc.jwk import ECKey, OctKey
from joserfc.registry import HeaderParameter

from events import identity as identity_module
from events import sso as sso_module
from events.checks import sso_keys_check, trusted_proxies_check
from events.identity import Identity, identity_from_request
from events.sso import sso_keys_load
from tests.sso_tokens import (
    SsoKeys,
    sso_claims,
    sso_encrypt,
    sso_keys,
    sso_settings,
    sso_sign,
    sso_token,
    unsigned_jws,
)

USER = "6d9bc4e5-4a61-4a12-9a2f-2bb1b5a0e9c1"


@pytest.fixture(scope="module")
def keys() -> SsoKeys:
    return sso_keys()


@pytest.fixture(scope="module")
def other_keys() -> SsoKeys:
    return sso_keys()


@pytest.fixture
def sso(settings, keys):
    """SSO on, with the module's keys."""
    for name, value in sso_settings(keys).items():
        setattr(settings, name, value)
    settings.LOADTESTING_ACTIVE = False
    settings.TRUSTED_PROXIES = []


def identity(
    *, token: str | None = None, cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Identity:
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return identity_from_request(RequestFactory().post("/api/v0/events", headers=headers))


def encrypted(keys: SsoKeys, plaintext: str) -> str:
    return sso_encrypt(plaintext, encryption_key=keys.encryption_key)


def signed_and_encrypted(keys: SsoKeys, claims: object) -> str:
    return encrypted(keys, sso_sign(claims, private_key=keys.private_key))


# --- The SSO token ------------------------------------------------------------------------------


@pytest.mark.usefixtures("sso")
def test_a_valid_token_in_the_bearer_header_names_the_user(keys):
    assert identity(token=sso_token(user_uuid=USER, keys=keys)).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_a_valid_token_in_the_sso_cookie_names_the_user(keys):
    assert identity(cookies={"oxa": sso_token(user_uuid=USER, keys=keys)}).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_the_sso_cookie_name_comes_from_the_settings(settings, keys):
    settings.SSO_COOKIE_NAME = "sso_here"
    token = sso_token(user_uuid=USER, keys=keys)
    assert identity(cookies={"sso_here": token}).user_uuid == USER
    assert identity(cookies={"oxa": token}).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_the_bearer_header_wins_over_the_cookie(keys):
    other_user = str(uuid.uuid4())
    header_token = sso_token(user_uuid=USER, keys=keys)
    cookie_token = sso_token(user_uuid=other_user, keys=keys)
    assert identity(token=header_token, cookies={"oxa": cookie_token}).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_an_authorization_header_of_another_scheme_leaves_the_cookie_in_charge(keys):
    token = sso_token(user_uuid=USER, keys=keys)
    assert identity(headers={"Authorization": "Basic dXNlcjpwYXNz"}, cookies={"oxa": token}).user_uuid == USER
    assert identity(headers={"Authorization": f"bearer {token}"}).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_the_user_uuid_is_given_in_canonical_form(keys):
    assert identity(token=sso_token(user_uuid=USER.upper(), keys=keys)).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_an_expired_token_is_anonymous(keys):
    assert identity(token=sso_token(user_uuid=USER, keys=keys, expires_in=-1)).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_token_not_valid_yet_is_anonymous_and_one_valid_since_a_moment_is_not(keys):
    now = int(time.time())
    assert identity(token=sso_token(user_uuid=USER, keys=keys, nbf=now + 60)).user_uuid is None
    assert identity(token=sso_token(user_uuid=USER, keys=keys, nbf=now - 5)).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_an_issue_time_a_little_ahead_of_our_clock_is_no_reason_to_sign_the_user_out(keys):
    token = sso_token(user_uuid=USER, keys=keys, iat=int(time.time()) + 5)
    assert identity(token=token).user_uuid == USER


@pytest.mark.usefixtures("sso")
@pytest.mark.parametrize("exp", ["tomorrow", None, True, [1]])
def test_an_expiry_that_is_not_a_number_is_anonymous(keys, exp):
    assert identity(token=sso_token(user_uuid=USER, keys=keys, exp=exp)).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_token_signed_by_another_key_is_anonymous(keys, other_keys):
    claims = sso_claims(user_uuid=USER)
    token = encrypted(keys, sso_sign(claims, private_key=other_keys.private_key))
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_token_encrypted_with_another_key_is_anonymous(keys, other_keys):
    token = encrypted(other_keys, sso_sign(sso_claims(user_uuid=USER), private_key=keys.private_key))
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_token_signed_hs256_with_the_public_key_as_secret_is_anonymous(keys):
    # Key confusion: a verifier that let the token choose its algorithm would take the public PEM,
    # which anyone has, for an HMAC secret.
    header, claims = {"alg": "HS256", "typ": "JWT"}, sso_claims(user_uuid=USER)
    signing_input = unsigned_jws(header, claims).rsplit(".", 1)[0]
    signature = hmac.new(keys.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = encrypted(keys, unsigned_jws(header, claims, signature))
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_an_unsigned_token_with_alg_none_is_anonymous(keys):
    token = encrypted(keys, unsigned_jws({"alg": "none", "typ": "JWT"}, sso_claims(user_uuid=USER)))
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_token_signed_by_the_right_key_with_another_rsa_algorithm_is_anonymous(keys):
    token = encrypted(keys, sso_sign(sso_claims(user_uuid=USER), private_key=keys.private_key, header={"alg": "PS256"}))
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_token_encrypted_with_the_right_key_under_another_key_management_is_anonymous(keys):
    inner = sso_sign(sso_claims(user_uuid=USER), private_key=keys.private_key)
    token = sso_encrypt(inner, encryption_key=keys.encryption_key, header={"alg": "A256KW"})
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_compressed_token_is_anonymous(keys):
    inner = sso_sign(sso_claims(user_uuid=USER), private_key=keys.private_key)
    token = sso_encrypt(inner, encryption_key=keys.encryption_key, header={"zip": "DEF"})
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_header_parameters_we_do_not_know_are_ignored_unless_critical(keys):
    inner = sso_sign(sso_claims(user_uuid=USER), private_key=keys.private_key, header={"x-issuer": "accounts"})
    token = sso_encrypt(inner, encryption_key=keys.encryption_key, header={"kid": "2024", "x-issuer": "accounts"})
    assert identity(token=token).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_a_token_with_an_unknown_critical_header_is_anonymous(keys):
    inner = sso_sign(sso_claims(user_uuid=USER), private_key=keys.private_key)
    key = OctKey.import_key(keys.encryption_key.encode())
    protected = {"alg": "dir", "enc": "A256GCM", "crit": ["x-must-know"], "x-must-know": 1}
    known = {"x-must-know": HeaderParameter("known to the sender only", "int")}
    registry = jwe.JWERegistry(header_registry=known, algorithms=["dir", "A256GCM"])
    assert identity(token=jwe.encrypt_compact(protected, inner, key, registry=registry)).user_uuid is None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_DIR_A256GCM = _b64(b'{"alg":"dir","enc":"A256GCM"}')


@pytest.mark.usefixtures("sso")
@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c.d.e",
        "....",
        "e30.e30.e30.e30.e30",
        _b64(b'"alg enc"') + ".AA.AA.AA.AA",
        _b64(b"[1]") + ".AA.AA.AA.AA",
        _DIR_A256GCM + "..!!!.AA.AA",
        _DIR_A256GCM + "..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA",
        "x" * 100_000,
        "ü.ö.ä.ß.€",
    ],
)
def test_a_token_that_is_not_a_jwe_is_anonymous(token):
    assert identity(token=token).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_a_signed_but_unencrypted_token_is_anonymous(keys):
    assert identity(token=sso_sign(sso_claims(user_uuid=USER), private_key=keys.private_key)).user_uuid is None


@pytest.mark.usefixtures("sso")
@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Bearer    "])
def test_an_empty_bearer_token_is_anonymous(authorization):
    assert identity(headers={"Authorization": authorization}).user_uuid is None


@pytest.mark.usefixtures("sso")
@pytest.mark.parametrize("plaintext", ["hello", json.dumps(sso_claims(user_uuid=USER)), ""])
def test_a_jwe_whose_plaintext_is_not_a_jws_is_anonymous(keys, plaintext):
    assert identity(token=encrypted(keys, plaintext)).user_uuid is None


@pytest.mark.usefixtures("sso")
@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) + 3600},
        {"sub": USER},
        {"sub": None},
        {"sub": {}},
        {"sub": {"id": 7}},
        {"sub": {"uuid": "not-a-uuid"}},
        {"sub": {"uuid": 12}},
        {"sub": {"uuid": None}},
        {"sub": [USER]},
        [{"sub": {"uuid": USER}}],
        "a string",
        None,
    ],
)
def test_claims_without_a_user_uuid_are_anonymous(keys, claims):
    assert identity(token=signed_and_encrypted(keys, claims)).user_uuid is None


def test_with_sso_off_a_valid_token_is_anonymous(settings, keys):
    settings.SSO_ENCRYPTION_KEY = ""
    settings.SSO_SIGNATURE_PUBLIC_KEY = keys.public_pem
    token = sso_token(user_uuid=USER, keys=keys)
    assert identity(token=token, cookies={"oxa": token}).user_uuid is None


@pytest.mark.usefixtures("sso")
def test_without_a_token_the_sender_is_anonymous():
    assert identity().user_uuid is None


@pytest.mark.usefixtures("sso")
def test_the_keys_are_parsed_once_not_per_request(keys):
    token = sso_token(user_uuid=USER, keys=keys)
    identity(token=token)
    misses = sso_keys_load.cache_info().misses
    assert identity(token=token).user_uuid == USER
    assert identity(token="garbage").user_uuid is None
    assert sso_keys_load.cache_info().misses == misses


@pytest.mark.usefixtures("sso")
def test_a_bad_token_leaves_no_trace_in_the_logs(caplog, keys, other_keys):
    caplog.set_level(logging.DEBUG)
    token = sso_token(user_uuid=USER, keys=other_keys)
    assert identity(token=token).user_uuid is None
    assert identity(token=sso_token(user_uuid=USER, keys=keys, expires_in=-1)).user_uuid is None
    assert caplog.records == []


# --- Load tests ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("sso")
def test_the_load_test_header_names_the_user_only_when_load_testing_is_on(settings):
    assert identity(headers={"LoadTest-Client-UUID": USER}).user_uuid is None
    settings.LOADTESTING_ACTIVE = True
    assert identity(headers={"LoadTest-Client-UUID": USER.upper()}).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_when_load_testing_the_header_wins_and_a_bad_one_leaves_the_token_in_charge(settings, keys):
    settings.LOADTESTING_ACTIVE = True
    load_test_user = str(uuid.uuid4())
    token = sso_token(user_uuid=USER, keys=keys)
    assert identity(token=token, headers={"LoadTest-Client-UUID": load_test_user}).user_uuid == load_test_user
    assert identity(token=token, headers={"LoadTest-Client-UUID": "junk"}).user_uuid == USER


# --- The device cookie --------------------------------------------------------------------------


@pytest.mark.usefixtures("sso")
@pytest.mark.parametrize(
    ("cookie", "expected"),
    [(USER.upper(), USER), (USER, USER), ("not-a-uuid", None), ("", None), (None, None)],
)
def test_the_device_cookie_counts_only_when_it_holds_a_uuid(cookie, expected):
    assert identity(cookies={"oxdid": cookie} if cookie is not None else None).device_uuid == expected


@pytest.mark.usefixtures("sso")
def test_the_device_cookie_name_comes_from_the_settings(settings):
    settings.DEVICE_COOKIE_NAME = "device"
    assert identity(cookies={"device": USER}).device_uuid == USER
    assert identity(cookies={"oxdid": USER}).device_uuid is None


# --- The client address and agent ---------------------------------------------------------------


@pytest.mark.usefixtures("sso")
@pytest.mark.parametrize(
    ("trusted", "remote_addr", "forwarded_for", "expected"),
    [
        # No trusted proxies: X-Forwarded-For is whatever the client says, so it is ignored.
        ([], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # A peer that is not a trusted proxy is the client, whatever it forwards.
        (["10.0.0.1"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        (["10.0.0.1"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),
        (["10.0.0.0/8"], "10.1.2.3", "198.51.100.1", "198.51.100.1"),
        # Several proxies, each appending the peer it saw; the client's own entries come first.
        (["10.0.0.0/8", "192.0.2.7"], "10.0.0.1", "198.51.100.1, 192.0.2.7, 10.9.9.9", "198.51.100.1"),
        # Spoofed leftmost entries: the first untrusted address from the right is the client.
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4, 5.6.7.8, 198.51.100.1", "198.51.100.1"),
        (["10.0.0.0/8"], "10.0.0.1", "not-an-ip, 198.51.100.1", "198.51.100.1"),
        # A malformed entry where the client should be: the chain cannot be read.
        (["10.0.0.0/8"], "10.0.0.1", "198.51.100.1, garbage", "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", "198.51.100.1:4711", "10.0.0.1"),
        # Every hop a trusted proxy: the furthest known; nothing forwarded: the peer.
        (["10.0.0.0/8"], "10.0.0.1", "10.0.0.5, 10.0.0.6", "10.0.0.5"),
        (["10.0.0.0/8"], "10.0.0.1", "", "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", " , ", "10.0.0.1"),
        # IPv6, and an IPv4 peer seen through a dual-stack socket.
        (["2001:db8::/32"], "2001:db8::1", "2001:DB8:FFFF::0:1, 2001:db8::2", "2001:db8:ffff::1"),
        (["10.0.0.0/8"], "::ffff:10.0.0.1", "198.51.100.1", "198.51.100.1"),
    ],
)
def test_the_client_address_believes_x_forwarded_for_only_from_trusted_proxies(
    settings, trusted, remote_addr, forwarded_for, expected
):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().post("/api/v0/events", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert identity_from_request(request).ip_address == expected


@pytest.mark.usefixtures("sso")
def test_the_user_agent_is_passed_on_and_empty_when_absent():
    assert identity(headers={"User-Agent": "Mozilla/5.0 (X11)"}).user_agent == "Mozilla/5.0 (X11)"
    assert identity().user_agent == ""


# --- System checks ------------------------------------------------------------------------------


def _ids(messages: list[checks.CheckMessage]) -> list[str | None]:
    return [message.id for message in messages]


@pytest.mark.parametrize("key", ["k" * 31, "k" * 33, "é" * 32, " " * 31])
def test_an_encryption_key_that_is_not_32_bytes_is_a_system_check_error(settings, keys, key):
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = key, keys.public_pem
    messages = sso_keys_check()
    assert _ids(messages) == ["events.E001"]
    assert "32 bytes" in messages[0].msg
    assert key not in messages[0].msg
    assert messages[0].hint


def test_a_32_byte_key_is_accepted_however_many_characters_it_has(settings, keys):
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = "é" * 16, keys.public_pem
    assert sso_keys_check() == []


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a pem",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ECKey.generate_key("P-256").as_pem(private=False).decode(),
    ],
)
def test_a_signature_key_that_is_not_an_rsa_public_key_is_a_system_check_error(settings, keys, pem):
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = keys.encryption_key, pem
    messages = sso_keys_check()
    assert _ids(messages) == ["events.E002"]
    assert "SSO_SIGNATURE_PUBLIC_KEY" in messages[0].msg
    assert messages[0].hint


def test_a_private_key_given_as_the_signature_key_is_a_system_check_error(settings, keys):
    settings.SSO_ENCRYPTION_KEY = keys.encryption_key
    settings.SSO_SIGNATURE_PUBLIC_KEY = keys.private_key.as_pem(private=True).decode()
    messages = sso_keys_check()
    assert _ids(messages) == ["events.E002"]
    assert "private" in messages[0].msg


def test_valid_keys_pass_the_system_checks(settings, keys):
    for name, value in sso_settings(keys).items():
        setattr(settings, name, value)
    assert sso_keys_check() == []


def test_sso_off_passes_the_system_checks_and_a_lone_public_key_is_a_warning(settings, keys):
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = "", ""
    assert sso_keys_check() == []
    settings.SSO_SIGNATURE_PUBLIC_KEY = keys.public_pem
    assert _ids(sso_keys_check()) == ["events.W001"]


def test_trusted_proxies_that_are_not_addresses_are_a_system_check_error(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "proxy.internal", "10.0.0.0/33"]
    messages = trusted_proxies_check()
    assert _ids(messages) == ["events.E003", "events.E003"]
    assert "'proxy.internal'" in messages[0].msg
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.7"]
    assert trusted_proxies_check() == []


def test_the_checks_are_registered_with_django(settings):
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = "k" * 31, "not a pem"
    settings.TRUSTED_PROXIES = ["proxy.internal"]
    ids = _ids(checks.run_checks())
    assert {"events.E001", "events.E002", "events.E003"} <= set(ids)


def test_a_bad_key_that_got_past_the_checks_is_improperly_configured_not_anonymous(settings, keys):
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = "k" * 31, keys.public_pem
    with pytest.raises(ImproperlyConfigured, match="SSO_ENCRYPTION_KEY"):
        identity(token=sso_token(user_uuid=USER, keys=keys))


@pytest.mark.usefixtures("sso")
def test_a_token_without_an_expiry_is_anonymous(keys):
    # It would otherwise sign its user in for ever.
    claims = sso_claims(user_uuid=USER)
    del claims["exp"]
    assert identity(token=signed_and_encrypted(keys, claims)).user_uuid is None
    assert identity(token=sso_token(user_uuid=USER, keys=keys)).user_uuid == USER


@pytest.mark.usefixtures("sso")
def test_a_requests_identity_is_worked_out_once_however_often_it_is_asked(keys, monkeypatch):
    decrypted: list[str] = []
    real = sso_module.sso_user_uuid

    def counting(token, **kwargs):
        decrypted.append(token)
        return real(token, **kwargs)

    monkeypatch.setattr(identity_module, "sso_user_uuid", counting)  # as events.identity calls it
    token = sso_token(user_uuid=USER, keys=keys)
    request = RequestFactory().post("/api/v0/events", headers={"Authorization": f"Bearer {token}"})

    first, second = identity_from_request(request), identity_from_request(request)

    assert first is second
    assert first.user_uuid == USER
    assert decrypted == [token]
