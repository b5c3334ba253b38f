"""SSO tokens as the SSO service issues them, made with keys of the test's own, for any test.

Make keys with ``sso_keys()`` (once per module: RSA generation is slow), put ``sso_settings(keys)``
into the settings, and send ``sso_token(user_uuid=..., keys=keys)`` as ``Authorization: Bearer``
or in the SSO cookie. The lower-level helpers build tokens that are wrong in one precise way.
For rotations, ``sso_settings(keys, fallbacks=[...])`` accepts other keys besides, ``with_signature``
and ``with_encryption`` mix one key set's signature key with another's encryption key, and
``sso_kid`` is the kid a key is known by when the settings do not name one (its RFC 7638 thumbprint).
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Sequence
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


def sso_settings(
    keys: SsoKeys,
    *,
    encryption_fallbacks: Sequence[SsoKeys] = (),
    signature_fallbacks: Sequence[SsoKeys] = (),
    issuer: Sequence[str] = (),
    audience: Sequence[str] = (),
) -> dict[str, Any]:
    """The settings that make the service accept tokens made with ``keys``, and with the fallbacks'
    encryption and signature keys besides (as the operator writes them: a JSON array of encryption
    keys, PEM blocks one after the other), checking ``iss`` and ``aud`` when given."""
    return {
        "SSO_ENCRYPTION_KEY": keys.encryption_key,
        "SSO_SIGNATURE_PUBLIC_KEY": keys.public_pem,
        "SSO_ENCRYPTION_KEY_FALLBACKS": json.dumps([other.encryption_key for other in encryption_fallbacks])
        if encryption_fallbacks
        else "",
        "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS": "".join(other.public_pem for other in signature_fallbacks),
        "SSO_ISSUER": list(issuer),
        "SSO_AUDIENCE": list(audience),
    }


def with_signature(keys: SsoKeys, signer: SsoKeys) -> SsoKeys:
    """``keys``' encryption key with ``signer``'s signature key."""
    return keys._replace(private_key=signer.private_key, public_pem=signer.public_pem)


def with_encryption(keys: SsoKeys, encrypter: SsoKeys) -> SsoKeys:
    """``keys``' signature key with ``encrypter``'s encryption key."""
    return keys._replace(encryption_key=encrypter.encryption_key)


def sso_kid(keys: SsoKeys, *, of: str) -> str:
    """The RFC 7638 thumbprint of ``keys``' ``"signature"`` or ``"encryption"`` key: its kid when
    the settings name none."""
    if of == "signature":
        return keys.private_key.thumbprint()  # of the public members only: the public key's too
    return OctKey.import_key(keys.encryption_key.encode("utf-8")).thumbprint()


def sso_jwks(*keys_and_kids: tuple[SsoKeys, str | None], **members: str) -> str:
    """A JWKS (JSON) of the public signature keys, each with its kid (None: none), and ``members``
    (``use``, ``alg``) added to every key."""
    jwks = []
    for keys, kid in keys_and_kids:
        jwk = dict(keys.private_key.as_dict(private=False), **members)
        jwk.pop("kid", None)
        if kid is not None:
            jwk["kid"] = kid
        jwks.append(jwk)
    return json.dumps({"keys": jwks})


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


def sso_token(
    *,
    user_uuid: str | None,
    keys: SsoKeys,
    expires_in: int = 3600,
    signature_kid: str | None = None,
    encryption_kid: str | None = None,
    **overrides: Any,
) -> str:
    """A valid SSO token for ``user_uuid`` (``overrides`` replace or add claims, e.g. ``nbf``),
    its JWS and JWE headers naming the kids given."""
    claims = sso_claims(user_uuid=user_uuid, expires_in=expires_in, **overrides)
    signed = sso_sign(claims, private_key=keys.private_key, header=_kid_header(signature_kid))
    return sso_encrypt(signed, encryption_key=keys.encryption_key, header=_kid_header(encryption_kid))


def _kid_header(kid: str | None) -> dict[str, Any] | None:
    return None if kid is None else {"kid": kid}
