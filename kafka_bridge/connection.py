"""How every Kafka client of the service connects: the one place that turns the connection settings
(``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_SECURITY_PROTOCOL``, SASL credentials, TLS files; checked in
settings at start-up) into librdkafka's configuration.

The producer (``producer.py``), the admin clients (``topics.py``: ``populate_topics``;
``operations/health.py``: ``/ready`` and ``/api/v0/info``) and the consumers (``consumer.py``:
``tail_events``) start from ``client_config`` and add only what is their own. Builds plain dicts;
nothing connects here.
"""

from __future__ import annotations

import logging

from django.conf import settings

# What confluent-kafka's clients take (its type stubs): librdkafka's settings by name.
ClientConfig = dict[str, str | int | float | bool]


def client_config(*, client_id: str) -> ClientConfig:
    """librdkafka's settings common to every client: where the cluster is and how to reach it.
    Holds the SASL password and key password when set: never log it."""
    protocol: str = settings.KAFKA_SECURITY_PROTOCOL
    config: ClientConfig = {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "client.id": client_id,
        "security.protocol": protocol.lower(),
    }
    if protocol.startswith("SASL_"):
        config |= {
            "sasl.mechanism": settings.KAFKA_SASL_MECHANISM,
            "sasl.username": settings.KAFKA_SASL_USERNAME,
            "sasl.password": settings.KAFKA_SASL_PASSWORD,
        }
    if protocol in ("SSL", "SASL_SSL"):
        # Unset: librdkafka looks for the system's CA certificates.
        for name, key in (
            ("KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
            ("KAFKA_SSL_CERTIFICATE_LOCATION", "ssl.certificate.location"),
            ("KAFKA_SSL_KEY_LOCATION", "ssl.key.location"),
            ("KAFKA_SSL_KEY_PASSWORD", "ssl.key.password"),
        ):
            value: str = getattr(settings, name)
            if value:
                config[key] = value
    return config


class ClientLog(logging.Logger):
    """Keeps librdkafka's last warning or error instead of printing every line: an unreachable
    broker logs a refused connection every few milliseconds, and the last one says why (refused,
    a failed TLS handshake, ``SASL authentication error: ... Invalid username or password``).
    Pass it as a client's ``logger``; a client hands its queued lines over in ``poll()``."""

    def __init__(self) -> None:
        super().__init__(f"{__name__}.client", logging.WARNING)
        self.last_problem: str | None = None

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            # "FAIL [rdkafka#producer-1] [thrd:...]: 127.0.0.1:9/bootstrap: Connect to ... failed"
            self.last_problem = record.getMessage().split("]: ", 1)[-1]
