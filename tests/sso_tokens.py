"""SSO tokens as the SSO service issues them, made with keys of the test's own, for any test.

Make keys with ``sso_keys()`` (once per module: RSA generation is slow), put ``sso_settings(keys)``
into the settings, and send ``sso_token(user_uuid=..., keys=keys)`` as ``Authorization: Bearer``
or in the SSO cookie. The lower-level helpers build tokens that are wrong in one precise way.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from typing import Any, NamedTuple

from joserfc import jwe, jws
from joserfc.jwk import OctKey, RSAKey
from joserfc.util import urlsafe_b64encode

_KEY_ALPHABET = string.ascii_letters + string.digits


class SsoKeys(NamedTuple):
    encryption_key: str
    """32 ASCII characters: the text form ``SSO_ENCRYPTION_KEY`` holds."""
    private_key: RSAKey
    public_pem: str
    """The public half, in PEM: what ``SSO_SIGNATURE_PUBLIC_KEY`` holds."""


def sso_keys() -> SsoKeys:
    """A fresh encryption key and RSA key pair (generating one takes tens of milliseconds)."""
    private_key = RSAKey.generate_key(2048)
    return SsoKeys(
        encryption_key="".join(secrets.choice(_KEY_ALPHABET) for _ in range(32)),
        private_key=private_key,
        public_pem=private_key.as_pem(private=False).decode("ascii"),
    )


def sso_settings(keys: SsoKeys) -> dict[str, str]:
    """The settings that make the service accept tokens made with ``keys``."""
    return {"SSO_ENCRYPTION_KEY": keys.encryption_key, "SSO_SIGNATURE_PUBLIC_KEY": keys.public_pem}


def sso_claims(*, user_uuid: str | None, expires_in: int = 3600, **overrides: Any) -> dict[str, Any]:
    """Claims like the SSO service's: ``sub`` is an object holding the user's ``uuid``."""
    now = int(time.time())
    return {"sub": {"uuid": user_uuid}, "iat": now, "exp": now + expires_in, **overrides}


def sso_sign(claims: Any, *, private_key: RSAKey, header: dict[str, Any] | None = None) -> str:
    """A compact JWS (RS256) of ``claims`` (any JSON value)."""
    protected = {"alg": "RS256", "typ": "JWT", **(header or {})}
    # Lenient registries: tests may add header parameters the issuer could add and we must ignore.
    registry = jws.JWSRegistry(algorithms=[protected["alg"]], strict_check_header=False)
    return jws.serialize_compact(protected, json.dumps(claims), private_key, registry=registry)


def sso_encrypt(plaintext: str, *, encryption_key: str, header: dict[str, Any] | None = None) -> str:
    """A compact JWE (dir, A256GCM) of ``plaintext`` with the text key."""
    protected = {"alg": "dir", "enc": "A256GCM", "cty": "JWT", **(header or {})}
    key = OctKey.import_key(encryption_key.encode("utf-8"))
    algorithms = [protected[name] for name in ("alg", "enc", "zip") if name in protected]
    registry = jwe.JWERegistry(algorithms=algorithms, strict_check_header=False)
    return jwe.encrypt_compact(protected, plaintext, key, registry=registry)


def unsigned_jws(header: dict[str, Any], claims: Any, signature: bytes = b"") -> str:
    """A compact JWS put together by hand, for headers and signatures no library would produce."""
    return ".".join(
        urlsafe_b64encode(part).decode("ascii")
        for part in (json.dumps(header).encode(), json.dumps(claims).encode(), signature)
    )


def sso_token(*, user_uuid: str | None, keys: SsoKeys, expires_in: int = 3600, **overrides: Any) -> str:
    """A valid SSO token for ``user_uuid`` (``overrides`` replace or add claims, e.g. ``nbf``)."""
    claims = sso_claims(user_uuid=user_uuid, expires_in=expires_in, **overrides)
    return sso_encrypt(sso_sign(claims, private_key=keys.private_key), encryption_key=keys.encryption_key)
