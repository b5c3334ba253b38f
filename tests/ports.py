"""Addresses where nothing listens, to stand for a service that is down."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback TCP port nothing listens on (free a moment ago; connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
