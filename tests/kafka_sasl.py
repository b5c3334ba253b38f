"""The local stack's SASL listener (``scripts/stack``: SASL_PLAINTEXT, PLAIN and SCRAM-SHA-256, one user)
on the same broker as the PLAINTEXT one, where CI has it: ``KAFKA_HOST``:``KAFKA_SASL_PORT``
(default 127.0.0.1:9094)."""

from __future__ import annotations

import os
import socket

# The user scripts/stack gives the broker (KAFKA_SASL_USER, KAFKA_SASL_SECRET).
SASL_USER = "eventcapture"
SASL_PASSWORD = "eventcapture-local-secret"


def sasl_address() -> str:
    host = os.environ.get("KAFKA_HOST", "127.0.0.1")
    port = os.environ.get("KAFKA_SASL_PORT", "9094")
    return f"{host}:{port}"


def sasl_listener_problem() -> str | None:
    """None when something accepts connections on the SASL address, else what to do about it."""
    address = sasl_address()
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return None
    except OSError as exc:
        return (
            f"no Kafka SASL listener on {address} ({exc.strerror or exc}): these tests need the local "
            "stack's SASL listener (KAFKA_SASL_PORT, default 9094). Start it with `scripts/stack up kafka`; "
            "a broker started before the listener existed needs `scripts/stack down kafka` first."
        )
