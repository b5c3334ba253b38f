"""The OpenStax SSO token: who the signed-in user is. Pure: no Django, no I/O.

The token is a compact JWE (``alg: dir``, ``enc: A256GCM``, a shared 32-byte key) whose plaintext is
a compact JWS (``RS256``, verified with the SSO service's public key); the user is
``claims["sub"]["uuid"]``. Keys are parsed once per process (``sso_keys_load`` is cached on the
setting values); reading a token never raises and never logs it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, RSAKey
from joserfc.jws import JWSRegistry

from events.enrichment import uuid_or_none

ENCRYPTION_KEY_BYTES = 32

# Only what the SSO service issues: no other key management, cipher, signature or `none`; the
# allowed names double as the JWE's alg and enc lists, and "dir" is no enc nor "A256GCM" an alg.
# Unknown header parameters are ignored as RFC 7515/7516 ask (`crit` is still enforced).
_JWE_REGISTRY = jwe.JWERegistry(algorithms=["dir", "A256GCM"], strict_check_header=False)
_JWS_REGISTRY = JWSRegistry(algorithms=["RS256"], strict_check_header=False)


class SsoKeyError(ValueError):
    """A setting does not hold a usable SSO key. The message names the setting, never the key."""


@dataclass(frozen=True)
class SsoKeys:
    encryption_key: OctKey
    signature_key: RSAKey


def encryption_key_load(text: str) -> OctKey:
    """The JWE key from its text form: exactly 32 bytes once UTF-8 encoded (A256GCM, dir)."""
    size = len(text.encode("utf-8"))
    if size != ENCRYPTION_KEY_BYTES:
        raise SsoKeyError(
            f"SSO_ENCRYPTION_KEY must be exactly {ENCRYPTION_KEY_BYTES} bytes once UTF-8 encoded, got {size}."
        )
    return OctKey.import_key(text.encode("utf-8"))


def signature_key_load(pem: str) -> RSAKey:
    """The JWS verification key from PEM text; a private key is refused (it belongs to the issuer)."""
    if not pem.strip():
        raise SsoKeyError("SSO_SIGNATURE_PUBLIC_KEY must be set when SSO_ENCRYPTION_KEY is.")
    try:
        key = RSAKey.import_key(pem.encode("utf-8"))
    except (JoseError, ValueError, TypeError) as error:
        # The parser's message is safe (it never quotes the data) and says what was wrong.
        raise SsoKeyError(f"SSO_SIGNATURE_PUBLIC_KEY is not an RSA public key in PEM form: {error}") from error
    if key.is_private:
        raise SsoKeyError("SSO_SIGNATURE_PUBLIC_KEY holds a private key; give only the public key.")
    return key


@functools.lru_cache(maxsize=4)
def sso_keys_load(*, encryption_key: str, signature_public_key: str) -> SsoKeys:
    """Both keys, parsed once per distinct pair of setting values; raises ``SsoKeyError``."""
    return SsoKeys(
        encryption_key=encryption_key_load(encryption_key),
        signature_key=signature_key_load(signature_public_key),
    )


class _SsoClaimsRegistry(jwt.JWTClaimsRegistry):
    """``exp`` is required and, with ``nbf``, enforced (no leeway): a token that never expires
    would sign its user in for ever. The rest is read by ``sso_user_uuid``."""

    def __init__(self, *, now: int | None) -> None:
        super().__init__(now=now, exp={"essential": True})

    def validate_sub(self, value: object) -> None:
        # Here `sub` is an object holding the user, not RFC 7519's string: checked by the caller.
        pass

    def validate_iat(self, value: object) -> None:
        # `iat` is informational (RFC 7519 asks nothing of it): an issuer whose clock runs a
        # second ahead of ours must not sign its users out.
        pass


def _claims(token: str, keys: SsoKeys) -> dict[str, Any]:
    encrypted = jwe.decrypt_compact(token, keys.encryption_key, registry=_JWE_REGISTRY)
    signed = encrypted.plaintext
    if signed is None:  # pragma: no cover (decrypt_compact always sets it)
        raise ValueError("no plaintext")
    return jwt.decode(signed, keys.signature_key, registry=_JWS_REGISTRY).claims


def sso_user_uuid(token: str, *, keys: SsoKeys, now: int | None = None) -> str | None:
    """The signed-in user's UUID (canonical form), or None for any token that is not a valid,
    current SSO token. ``now`` (epoch seconds) defaults to the clock."""
    try:
        claims = _claims(token, keys)
        _SsoClaimsRegistry(now=now).validate(claims)
    # Untrusted input: besides JoseError, joserfc raises ValueError, TypeError, KeyError... for
    # malformed segments, depending on where parsing stops. Whatever it is, the sender is anonymous.
    except Exception:
        return None
    subject = claims.get("sub")
    if not isinstance(subject, dict):
        return None
    user_uuid = subject.get("uuid")
    return uuid_or_none(user_uuid) if isinstance(user_uuid, str) else None
