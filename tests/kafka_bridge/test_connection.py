"""The Kafka connection settings: checked at start-up, and turned in one place into the librdkafka
configuration every client starts from. No broker needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kafka_bridge.connection import client_config
from kafka_bridge.producer import _config as producer_config

ROOT = Path(__file__).resolve().parents[2]


def start_up_printing(*names: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Imports the settings as a process starting with only ``env`` (and a key) would, and prints
    the values of the settings ``names`` as a JSON array."""
    script = f"import json, eventcapture.settings as s; print(json.dumps([getattr(s, n) for n in {list(names)!r}]))"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "SECRET_KEY": "connection-test-key", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_up_error(env: dict[str, str]) -> str:
    result = start_up_printing(env=env)
    assert result.returncode != 0, "start-up should have failed"
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    return last.removeprefix("django.core.exceptions.ImproperlyConfigured: ")


SASL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "capture",
    "KAFKA_SASL_PASSWORD": "pa$$word",
}


# --- Start-up checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"KAFKA_COMPRESSION_TYPE": "brotli"},
            "KAFKA_COMPRESSION_TYPE must be one of none, gzip, snappy, lz4, zstd, got 'brotli'.",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "TLS"},
            "KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got 'TLS'.",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD.",
        ),
        (
            {**SASL, "KAFKA_SASL_PASSWORD": ""},
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_PASSWORD.",
        ),
        (
            {**SASL, "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, got 'GSSAPI'.",
        ),
        (
            {"KAFKA_SASL_USERNAME": "capture", "KAFKA_SASL_PASSWORD": "secret"},
            "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set, but KAFKA_SECURITY_PROTOCOL is PLAINTEXT: "
            "use SASL_SSL (or SASL_PLAINTEXT) to authenticate with them.",
        ),
        (
            {**SASL, "KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"},
            "KAFKA_SSL_CA_LOCATION names no readable file: '/nonexistent/ca.pem'.",
        ),
        (
            {**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SSL_CA_LOCATION": str(ROOT / "README.md")},
            "KAFKA_SSL_CA_LOCATION set, but KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT: "
            "TLS settings need SSL or SASL_SSL.",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTIFICATE_LOCATION": str(ROOT / "README.md")},
            "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together (mTLS).",
        ),
    ],
    ids=[
        "unknown-codec",
        "unknown-protocol",
        "sasl-without-anything",
        "sasl-without-password",
        "unknown-mechanism",
        "credentials-without-sasl",
        "missing-ca-file",
        "ca-file-without-tls",
        "certificate-without-key",
    ],
)
def test_an_invalid_kafka_connection_setting_stops_start_up_naming_it(env, message):
    assert start_up_error(env) == message


def test_a_managed_kafka_environment_starts_with_the_password_from_a_file(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    password = tmp_path / "kafka_password"
    password.write_text("from-a-file\n")
    env = {
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "KAFKA_SASL_MECHANISM": "scram-sha-256",
        "KAFKA_SASL_USERNAME": "capture",
        "KAFKA_SASL_PASSWORD_FILE": str(password),
        "KAFKA_SSL_CA_LOCATION": str(ca),
        "KAFKA_COMPRESSION_TYPE": "GZIP",
    }
    result = start_up_printing(
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_CA_LOCATION",
        "KAFKA_COMPRESSION_TYPE",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f'["SASL_SSL", "SCRAM-SHA-256", "from-a-file", "{ca}", "gzip"]'


# --- The common client configuration --------------------------------------------------------------


def test_by_default_clients_connect_in_plaintext_to_the_bootstrap_servers(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "kafka-1:9092,kafka-2:9092"
    assert client_config(client_id="eventcapture-test") == {
        "bootstrap.servers": "kafka-1:9092,kafka-2:9092",
        "client.id": "eventcapture-test",
        "security.protocol": "plaintext",
    }


def test_sasl_ssl_carries_the_mechanism_credentials_and_tls_files(settings, tmp_path):
    settings.KAFKA_BOOTSTRAP_SERVERS = "broker.example.cloud:9092"
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    settings.KAFKA_SASL_MECHANISM = "PLAIN"
    settings.KAFKA_SASL_USERNAME = "api-key"
    settings.KAFKA_SASL_PASSWORD = "api-secret"
    settings.KAFKA_SSL_CA_LOCATION = "/etc/ssl/ca.pem"
    settings.KAFKA_SSL_CERTIFICATE_LOCATION = "/etc/ssl/client.pem"
    settings.KAFKA_SSL_KEY_LOCATION = "/etc/ssl/client.key"
    settings.KAFKA_SSL_KEY_PASSWORD = "key-secret"
    assert client_config(client_id="eventcapture-test") == {
        "bootstrap.servers": "broker.example.cloud:9092",
        "client.id": "eventcapture-test",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "api-key",
        "sasl.password": "api-secret",
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "ssl.certificate.location": "/etc/ssl/client.pem",
        "ssl.key.location": "/etc/ssl/client.key",
        "ssl.key.password": "key-secret",
    }


def test_ssl_without_a_ca_file_leaves_librdkafka_to_the_systems_certificates(settings):
    settings.KAFKA_SECURITY_PROTOCOL = "SSL"
    settings.KAFKA_SSL_CA_LOCATION = ""
    config = client_config(client_id="eventcapture-test")
    assert config["security.protocol"] == "ssl"
    assert not {key for key in config if key.startswith(("ssl.", "sasl."))}


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_the_configured_compression_reaches_the_producer_with_the_common_settings(settings, codec):
    settings.KAFKA_COMPRESSION_TYPE = codec
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    settings.KAFKA_SASL_MECHANISM = "SCRAM-SHA-256"
    settings.KAFKA_SASL_USERNAME = "capture"
    settings.KAFKA_SASL_PASSWORD = "secret"
    config = producer_config()
    assert config["compression.type"] == codec
    assert {key: config[key] for key in client_config(client_id="eventcapture-worker")} == client_config(
        client_id="eventcapture-worker"
    )


def test_the_default_compression_stays_zstd():
    result = start_up_printing("KAFKA_COMPRESSION_TYPE", env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '["zstd"]'
