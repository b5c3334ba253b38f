"""Who sent a request: the signed-in user, the device cookie, the client address and agent."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from events.enrichment import uuid_or_none
from events.sso import SsoKeyError, sso_keys_load, sso_user_uuid

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOAD_TEST_HEADER = "LoadTest-Client-UUID"


@dataclass(frozen=True)
class Identity:
    user_uuid: str | None
    device_uuid: str | None
    ip_address: str
    user_agent: str


# Where a request keeps its identity once worked out (the throttles and the view both need it).
_CACHED = "_eventcapture_identity"


def identity_from_request(request: HttpRequest) -> Identity:
    """The request's identity, worked out once per request: reading it may decrypt and verify an
    SSO token, which the rate limits and the view would otherwise each do."""
    identity = getattr(request, _CACHED, None)
    if not isinstance(identity, Identity):
        identity = _identity(request)
        setattr(request, _CACHED, identity)
    return identity


def request_client_ip(request: HttpRequest) -> str:
    """The client address of a request, as the rate limits and the login lock-out see it."""
    return client_ip(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted_proxies=trusted_proxies_parse(tuple(settings.TRUSTED_PROXIES)),
    )


def _identity(request: HttpRequest) -> Identity:
    return Identity(
        user_uuid=_user_uuid(request),
        # A cookie that does not hold a UUID is ignored, never an error (old clients send junk).
        device_uuid=uuid_or_none(request.COOKIES.get(settings.DEVICE_COOKIE_NAME)),
        ip_address=request_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


def _user_uuid(request: HttpRequest) -> str | None:
    if settings.LOADTESTING_ACTIVE:
        load_test_user = uuid_or_none(request.headers.get(LOAD_TEST_HEADER))
        # Never one of the ADMIN_UUIDS: a header must not make anyone an admin.
        if load_test_user is not None and load_test_user not in settings.ADMIN_UUIDS:
            return load_test_user
    token = _bearer_token(request) or request.COOKIES.get(settings.SSO_COOKIE_NAME)
    if not token or not settings.SSO_ENCRYPTION_KEY:
        return None
    try:
        keys = sso_keys_load(
            encryption_key=settings.SSO_ENCRYPTION_KEY,
            signature_public_key=settings.SSO_SIGNATURE_PUBLIC_KEY,
        )
    except SsoKeyError as error:
        # Only when the system checks (events.E001, events.E002), which stop start-up, were skipped.
        raise ImproperlyConfigured(str(error)) from error
    return sso_user_uuid(token, keys=keys)


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@functools.lru_cache(maxsize=8)
def trusted_proxies_parse(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXIES`` as networks (a bare address is a /32 or /128); raises ValueError."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; proxies are listed as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted_proxies)


def client_ip(*, remote_addr: str, forwarded_for: str, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy; then X-Forwarded-For
    read from the right (each proxy appends the peer it saw), skipping trusted proxies, up to the
    first untrusted address. Entries left of that one are whatever the client claimed: ignored.
    A malformed entry on the way means the chain cannot be read: REMOTE_ADDR."""
    peer = _address(remote_addr)
    if peer is None or not _is_trusted(peer, trusted_proxies):
        return remote_addr
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    client: IPAddress | None = None
    for hop in reversed(hops):
        client = _address(hop)
        if client is None:
            return remote_addr
        if not _is_trusted(client, trusted_proxies):
            return str(client)
    # Every hop was a trusted proxy: the leftmost is the furthest known; no header: the peer.
    return str(client) if client is not None else remote_addr
