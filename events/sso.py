"""The OpenStax SSO token: who the signed-in user is. Pure: no Django, no I/O.

The token is a compact JWE (``alg: dir``, ``enc: A256GCM``, a shared 32-byte key) whose plaintext is
a compact JWS (``RS256``, verified with the SSO service's public key); the user is
``claims["sub"]["uuid"]``. Keys are parsed once per process (``sso_keys_load`` is cached on the
setting values); reading a token never raises and never logs it.

Several keys of each kind may be accepted at once, so that either can be rotated without signing
anyone out: the current key and its fallbacks (the next key before the SSO service switches to it,
the previous one after). A token whose header names a ``kid`` that keys carry is opened with those
keys only; any other token with each key in turn, the current first. A key's ``kid`` is the one a
JWKS gives it, else its RFC 7638 thumbprint. ``iss`` and ``aud`` are checked only when configured.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from joserfc import jwe, jwt
from joserfc.errors import BadSignatureError, DecodeError, JoseError
from joserfc.jwk import OctKey, RSAKey
from joserfc.jws import JWSRegistry

from events.enrichment import uuid_or_none

ENCRYPTION_KEY_BYTES = 32

ENCRYPTION_KEY_SETTING = "SSO_ENCRYPTION_KEY"
ENCRYPTION_KEY_FALLBACKS_SETTING = "SSO_ENCRYPTION_KEY_FALLBACKS"
SIGNATURE_KEY_SETTING = "SSO_SIGNATURE_PUBLIC_KEY"
SIGNATURE_KEY_FALLBACKS_SETTING = "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS"

# Only what the SSO service issues: no other key management, cipher, signature or `none`; the
# allowed names double as the JWE's alg and enc lists, and "dir" is no enc nor "A256GCM" an alg.
# Unknown header parameters are ignored as RFC 7515/7516 ask (`crit` is still enforced).
_JWE_REGISTRY = jwe.JWERegistry(algorithms=["dir", "A256GCM"], strict_check_header=False)
_JWS_REGISTRY = JWSRegistry(algorithms=["RS256"], strict_check_header=False)
SIGNATURE_ALGORITHM = "RS256"

# One PEM block: its label, and everything up to the END line of the same label.
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


class SsoKeyError(ValueError):
    """A setting does not hold a usable SSO key. The message names the setting (and which of its
    keys), never the key."""


@dataclass(frozen=True)
class SsoKeys:
    """Every key accepted, the current one first; each carries a ``kid``."""

    encryption_keys: tuple[OctKey, ...]
    signature_keys: tuple[RSAKey, ...]


# --- Reading the keys from the settings ---------------------------------------------------------


def encryption_key_load(text: str, *, name: str = ENCRYPTION_KEY_SETTING) -> OctKey:
    """The JWE key from its text form: exactly 32 bytes once UTF-8 encoded (A256GCM, dir).
    ``name`` says where it came from, for the error."""
    size = len(text.encode("utf-8"))
    if size != ENCRYPTION_KEY_BYTES:
        raise SsoKeyError(f"{name} must be exactly {ENCRYPTION_KEY_BYTES} bytes once UTF-8 encoded, got {size}.")
    key = OctKey.import_key(text.encode("utf-8"))
    key.ensure_kid()  # its RFC 7638 thumbprint
    return key


def encryption_key_fallbacks_split(text: str) -> list[str]:
    """The keys of ``SSO_ENCRYPTION_KEY_FALLBACKS``: a JSON array of strings (for keys holding a
    comma or spaces at either end), or comma-separated; empty: none."""
    if not text.strip():
        return []
    if not text.lstrip().startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        keys = json.loads(text)
    except json.JSONDecodeError as error:
        # The decoder's message gives a position, never the text.
        raise SsoKeyError(f"{ENCRYPTION_KEY_FALLBACKS_SETTING} is not a JSON array: {error.msg}.") from error
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise SsoKeyError(f"{ENCRYPTION_KEY_FALLBACKS_SETTING} must be a JSON array of strings.")
    return keys


def signature_key_load(value: str | Mapping[str, Any], *, name: str = SIGNATURE_KEY_SETTING) -> RSAKey:
    """The JWS verification key from PEM text or a JWK (a JWKS entry); a private key is refused (it
    belongs to the issuer). ``name`` says where it came from, for the error."""
    if isinstance(value, str) and not value.strip():
        raise SsoKeyError(f"{name} must be set when {ENCRYPTION_KEY_SETTING} is.")
    if isinstance(value, Mapping):
        _jwk_fits(value, name=name)
    try:
        key = RSAKey.import_key(value.encode("utf-8") if isinstance(value, str) else dict(value))
    except (JoseError, ValueError, TypeError, KeyError) as error:
        # The parser's message is safe (it never quotes the data) and says what was wrong.
        form = "in PEM form" if isinstance(value, str) else "as a JWK"
        raise SsoKeyError(f"{name} is not an RSA public key {form}: {error}") from error
    if key.is_private:
        raise SsoKeyError(f"{name} holds a private key; give only the public key.")
    key.ensure_kid()  # a JWK's own, else its RFC 7638 thumbprint
    return key


def _jwk_fits(jwk: Mapping[str, Any], *, name: str) -> None:
    """A JWKS entry the SSO token can be verified with: RSA, for signatures, for RS256 (when it says)."""
    if jwk.get("kty") != "RSA":
        raise SsoKeyError(f"{name} is not an RSA key (kty {jwk.get('kty')!r}).")
    if jwk.get("use", "sig") != "sig":
        raise SsoKeyError(f"{name} is not for signatures (use {jwk.get('use')!r}).")
    if jwk.get("alg", SIGNATURE_ALGORITHM) != SIGNATURE_ALGORITHM:
        raise SsoKeyError(f"{name} is for {jwk.get('alg')!r}, not {SIGNATURE_ALGORITHM}.")


def signature_key_fallbacks_split(text: str) -> list[tuple[str, str | dict[str, Any]]]:
    """The keys of ``SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS``, each with the name its errors give: a
    JWKS (``{"keys": [...]}``, whose kids are kept), or PEM blocks one after the other (text
    between them is ignored); empty: none."""
    if not text.strip():
        return []
    setting = SIGNATURE_KEY_FALLBACKS_SETTING
    if text.lstrip().startswith("{"):
        try:
            jwks = json.loads(text)
        except json.JSONDecodeError as error:
            raise SsoKeyError(f"{setting} is not a JWKS (JSON): {error.msg}.") from error
        entries = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(entries, list) or not entries or not all(isinstance(entry, dict) for entry in entries):
            raise SsoKeyError(f'{setting} must be a JWKS: {{"keys": [...]}} holding at least one key.')
        return [(_jwk_name(setting, number, entry), entry) for number, entry in enumerate(entries, 1)]
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(text)]
    if text.count("-----BEGIN ") != len(blocks):
        # A block cut short would otherwise be skipped without a word.
        raise SsoKeyError(f"{setting} holds a PEM block without its matching END line.")
    if not blocks:
        raise SsoKeyError(f"{setting} holds neither PEM blocks nor a JWKS.")
    return [(f"{setting} key {number}", block) for number, block in enumerate(blocks, 1)]


def _jwk_name(setting: str, number: int, jwk: Mapping[str, Any]) -> str:
    kid = jwk.get("kid")
    return f"{setting} key {number} (kid {kid!r})" if isinstance(kid, str) else f"{setting} key {number}"


_Value = TypeVar("_Value")
_Loaded = TypeVar("_Loaded")


def _keys_read(
    *,
    current: tuple[str, _Value],
    fallbacks: Callable[[], Sequence[tuple[str, _Value]]],
    load: Callable[[str, _Value], _Loaded],
) -> tuple[list[_Loaded], list[SsoKeyError]]:
    keys: list[_Loaded] = []
    errors: list[SsoKeyError] = []

    def add(name: str, value: _Value) -> None:
        try:
            keys.append(load(name, value))
        except SsoKeyError as error:
            errors.append(error)

    add(*current)
    try:
        named = fallbacks()
    except SsoKeyError as error:
        errors.append(error)
        named = []
    for name, value in named:
        add(name, value)
    return keys, errors


def encryption_keys_read(*, current: str, fallbacks: str) -> tuple[list[OctKey], list[SsoKeyError]]:
    """Every encryption key that loads, the current first, and the errors of every one that does
    not, in the same order."""
    return _keys_read(
        current=(ENCRYPTION_KEY_SETTING, current),
        fallbacks=lambda: [
            (f"{ENCRYPTION_KEY_FALLBACKS_SETTING} key {number}", text)
            for number, text in enumerate(encryption_key_fallbacks_split(fallbacks), 1)
        ],
        load=lambda name, text: encryption_key_load(text, name=name),
    )


def signature_keys_read(*, current: str, fallbacks: str) -> tuple[list[RSAKey], list[SsoKeyError]]:
    """Every signature key that loads, the current first, and the errors of every one that does
    not, in the same order."""
    named: tuple[str, str | dict[str, Any]] = (SIGNATURE_KEY_SETTING, current)
    return _keys_read(
        current=named,
        fallbacks=lambda: signature_key_fallbacks_split(fallbacks),
        load=lambda name, value: signature_key_load(value, name=name),
    )


@functools.lru_cache(maxsize=4)
def sso_keys_load(
    *,
    encryption_key: str,
    signature_public_key: str,
    encryption_key_fallbacks: str = "",
    signature_public_key_fallbacks: str = "",
) -> SsoKeys:
    """Every key, parsed once per distinct set of setting values; raises ``SsoKeyError`` (the
    first problem) when any of them is not a usable key."""
    encryption_keys, encryption_errors = encryption_keys_read(
        current=encryption_key, fallbacks=encryption_key_fallbacks
    )
    signature_keys, signature_errors = signature_keys_read(
        current=signature_public_key, fallbacks=signature_public_key_fallbacks
    )
    for error in (*encryption_errors, *signature_errors):
        raise error
    return SsoKeys(encryption_keys=tuple(encryption_keys), signature_keys=tuple(signature_keys))


# --- Reading a token ----------------------------------------------------------------------------


class _HasHeaders(Protocol):
    """What joserfc hands a key-choosing callable: the JWE recipient or the JWS being read."""

    def headers(self) -> dict[str, Any]: ...


_Key = TypeVar("_Key", OctKey, RSAKey)
_Opened = TypeVar("_Opened")


def _keys_for(keys: Sequence[_Key], kid: object) -> list[_Key]:
    """The keys carrying the token's ``kid``, when it names one they carry; else all, in order."""
    named = [key for key in keys if isinstance(kid, str) and key.kid == kid]
    return named or list(keys)


def _opened(keys: Sequence[_Key], open_with: Callable[[Callable[[_HasHeaders], _Key]], _Opened]) -> _Opened:
    """``open_with(choose)`` with the first key that opens the token. joserfc parses the token and
    its header, then asks ``choose`` for the key; a wrong key is a failed tag or signature (the
    token is opened again with the next candidate), anything else stops at the first attempt."""
    candidates: list[_Key] | None = None

    def choose(token: _HasHeaders) -> _Key:
        nonlocal candidates
        if candidates is None:
            candidates = _keys_for(keys, token.headers().get("kid"))
        return candidates.pop(0)

    while True:
        try:
            return open_with(choose)
        except (DecodeError, BadSignatureError):
            if not candidates:
                raise


def _claims(token: str, keys: SsoKeys) -> dict[str, Any]:
    encrypted = _opened(keys.encryption_keys, lambda choose: jwe.decrypt_compact(token, choose, registry=_JWE_REGISTRY))
    signed = encrypted.plaintext
    if signed is None:  # pragma: no cover (decrypt_compact always sets it)
        raise ValueError("no plaintext")
    return _opened(keys.signature_keys, lambda choose: jwt.decode(signed, choose, registry=_JWS_REGISTRY)).claims


class _SsoClaimsRegistry(jwt.JWTClaimsRegistry):
    """``exp`` is required and, with ``nbf``, enforced (no leeway): a token that never expires
    would sign its user in for ever. ``iss`` and ``aud`` must be one of those accepted when any
    are. The rest is read by ``sso_user_uuid``."""

    def __init__(self, *, now: int | None, issuers: Sequence[str], audiences: Sequence[str]) -> None:
        super().__init__(now=now, exp={"essential": True})
        if issuers:
            self.options["iss"] = {"essential": True, "values": list(issuers)}
        if audiences:
            # A token may name several audiences (a list): one of them must be ours.
            self.options["aud"] = {"essential": True, "values": list(audiences)}

    def validate_sub(self, value: object) -> None:
        # Here `sub` is an object holding the user, not RFC 7519's string: checked by the caller.
        pass

    def validate_iat(self, value: object) -> None:
        # `iat` is informational (RFC 7519 asks nothing of it): an issuer whose clock runs a
        # second ahead of ours must not sign its users out.
        pass


def sso_user_uuid(
    token: str,
    *,
    keys: SsoKeys,
    issuers: Sequence[str] = (),
    audiences: Sequence[str] = (),
    now: int | None = None,
) -> str | None:
    """The signed-in user's UUID (canonical form), or None for any token that is not a valid,
    current SSO token. ``iss`` must be one of ``issuers`` and ``aud`` name one of ``audiences``
    when they are given (empty: not checked). ``now`` (epoch seconds) defaults to the clock."""
    try:
        claims = _claims(token, keys)
        _SsoClaimsRegistry(now=now, issuers=issuers, audiences=audiences).validate(claims)
    # Untrusted input: besides JoseError, joserfc raises ValueError, TypeError, KeyError... for
    # malformed segments, depending on where parsing stops. Whatever it is, the sender is anonymous.
    except Exception:
        return None
    subject = claims.get("sub")
    if not isinstance(subject, dict):
        return None
    user_uuid = subject.get("uuid")
    return uuid_or_none(user_uuid) if isinstance(user_uuid, str) else None
