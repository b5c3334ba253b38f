"""Signing xAPI statements as a Learning Record Provider does (xAPI 1.0.3, Data 2.6), for the tests
of signed statements: RSA keys, a self-signed X.509 certificate for ``x5c``, compact JWS."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"


@cache
def private_key(name: str = "signer") -> rsa.RSAPrivateKey:
    """An RSA key per ``name``, made once per test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def certificate(name: str = "signer") -> str:
    """A self-signed certificate of ``private_key(name)``, base64 DER as ``x5c`` holds it."""
    key = private_key(name)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(built.public_bytes(serialization.Encoding.DER)).decode()


def jws_compact(
    payload: bytes, *, algorithm: str = "RS256", x5c: list[str] | None = None, key: str = "signer"
) -> bytes:
    """``payload`` signed (compact serialization): RS* with ``private_key(key)``, HS* with a secret."""
    header: dict[str, Any] = {"alg": algorithm}
    if x5c is not None:
        header["x5c"] = x5c
    signing_key = (
        OctKey.import_key(b"a shared secret of at least thirty-two bytes")
        if algorithm.startswith("HS")
        else RSAKey.import_key(private_key(key))
    )
    return jws.serialize_compact(header, payload, signing_key, algorithms=[algorithm]).encode()


def signature_attachment(signature: bytes, **changes: Any) -> dict[str, Any]:
    """The attachment a signature is sent as (its data: ``signature``)."""
    return {
        "usageType": SIGNATURE_USAGE,
        "display": {"en-US": "Signature"},
        "contentType": "application/octet-stream",
        "length": len(signature),
        "sha2": hashlib.sha256(signature).hexdigest(),
        **changes,
    }


def signed(statement: dict[str, Any], **options: Any) -> tuple[dict[str, Any], bytes]:
    """``statement`` with a signature attachment, and the signature (the JWS of the statement as it
    was before the signature was added)."""
    signature = jws_compact(orjson.dumps(statement), **options)
    attachments = [*statement.get("attachments", []), signature_attachment(signature)]
    return {**statement, "attachments": attachments}, signature
