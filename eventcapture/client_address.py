"""The client's address of a request: REMOTE_ADDR, or behind trusted proxies (``TRUSTED_PROXIES``)
what they forwarded. One answer for the rate limits, the login lock-out and the events' ``ip_address``."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def request_client_ip(request: HttpRequest) -> str:
    """The client address of a request, as the rate limits and the login lock-out see it."""
    return client_ip(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted_proxies=trusted_proxies_parse(tuple(settings.TRUSTED_PROXIES)),
    )


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
