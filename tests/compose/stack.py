"""The compose stack of tests/compose: docker-compose run on docker/compose.yml with
docker/compose.local.yml (the images of `make images-local`), a certificate authority of its own,
clients on the host and in containers, and Kafka read from the host."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("COMPOSE_TEST_PROJECT", "eventcapture-compose-test")
COMPOSE_FILES = ("docker/compose.yml", "docker/compose.local.yml")
KAFKA3_FILE = "docker/compose.kafka3.yml"


def free_ports(count: int) -> list[int]:
    """Ports of the host's loopback nothing listens on now (the kernel's choice), for the proxy and
    the brokers' host listeners: fixed ones may be taken by `make run` or another test run."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


PYTHON_IMAGE = "eventcapture-local/python:bookworm"
KAFKA_IMAGE = "eventcapture-local/kafka:4.1.1"
# Low enough that a burst of one client is refused within a second, while another is not.
RATE_LIMIT_PER_IP = "10/s"
# A killed worker's batches come back this soon (the default, an hour, is for production); it must
# be well over one delivery attempt's wait for Kafka (kafka_bridge.E001), shortened to match.
VISIBILITY_TIMEOUT = 30
DELIVERY_TIMEOUT = 15
CLIENT_SCRIPT = Path(__file__).resolve().parent / "client.py"


def run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600, stdin: str | None = None) -> str:
    result = subprocess.run(
        args, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args[:6])} ... failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def certificates_make(folder: Path) -> Path:
    """A certificate authority of the test's own and the proxy's certificate (tls.crt, tls.key) for
    localhost, 127.0.0.1 and `proxy` (the name clients in containers use); returns the CA file."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "tls.key", folder / "tls.csr", folder / "tls.crt"
    extensions = folder / "san.ext"
    extensions.write_text("subjectAltName=DNS:localhost,DNS:proxy,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    new_key = ["-newkey", "rsa:2048", "-nodes"]
    ca_name = "/CN=eventcapture compose test CA"
    run(
        [
            "openssl",
            "req",
            "-x509",
            *new_key,
            "-days",
            "2",
            "-subj",
            ca_name,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_crt),
        ]
    )
    run(["openssl", "req", *new_key, "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr)])
    signed_by_ca = ["-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2"]
    run(["openssl", "x509", "-req", "-in", str(csr), *signed_by_ca, "-extfile", str(extensions), "-out", str(crt)])
    # nginx's workers (another user) read the key through the bind mount.
    for path in folder.iterdir():
        path.chmod(0o644)
    folder.chmod(0o755)
    return ca_crt


@dataclass
class Stack:
    workdir: Path
    kafka3: bool = False
    scale: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.certs = self.workdir / "certs"
        self.ca = certificates_make(self.certs)
        self.settings_file = self.workdir / "settings.env"
        self.settings_file.write_text(
            f"RATE_LIMIT_PER_IP={RATE_LIMIT_PER_IP}\nCELERY_VISIBILITY_TIMEOUT={VISIBILITY_TIMEOUT}\n"
            f"KAFKA_DELIVERY_TIMEOUT={DELIVERY_TIMEOUT}\nLOG_LEVEL=INFO\n"
            # JSON lines: the web's access lines then name their request id.
            "LOG_FORMAT=json\n"
        )
        self.compose_variables = self.workdir / "compose.env"
        self.compose_variables.write_text("")
        self.proxy_port, *self.kafka_ports = free_ports(4)
        self.base_url = f"https://localhost:{self.proxy_port}"
        self.admin_password = uuid.uuid4().hex
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
            "SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
            "EVENTCAPTURE_ENV_FILE": str(self.settings_file),
            "PROXY_CERT_DIR": str(self.certs),
            "PROXY_PORT": str(self.proxy_port),
            "KAFKA_HOST_PORT": str(self.kafka_ports[0]),
            "KAFKA_2_HOST_PORT": str(self.kafka_ports[1]),
            "KAFKA_3_HOST_PORT": str(self.kafka_ports[2]),
            "KAFKA_IMAGE": KAFKA_IMAGE,
            "ALLOWED_HOSTS": "localhost,proxy",
            "CSRF_TRUSTED_ORIGINS": self.base_url,
        }

    # --- docker-compose ------------------------------------------------------------------------

    def compose(self, *args: str, timeout: float = 600) -> str:
        files = [*COMPOSE_FILES, *([KAFKA3_FILE] if self.kafka3 else [])]
        command = ["docker-compose", "--env-file", str(self.compose_variables), "-p", PROJECT]
        for name in files:
            command += ["-f", name]
        return run([*command, *args], env=self.env, timeout=timeout)

    def up(self) -> None:
        scale = [f"--scale={name}={count}" for name, count in self.scale.items()]
        self.compose("up", "-d", "--no-build", "--remove-orphans", *scale)

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        ids = self.compose("ps", "-q", *([service] if service else [])).split()
        if not ids:
            return []
        inspected: list[dict[str, Any]] = json.loads(run(["docker", "inspect", *ids]))
        return inspected

    def service_of(self, container: dict[str, Any]) -> str:
        return str(container["Config"]["Labels"]["com.docker.compose.service"])

    def health(self) -> dict[str, str]:
        """Each container's state: its health, `exited 0` for a finished one-shot."""
        states = {}
        for container in self.containers():
            state = container["State"]
            name = container["Name"].lstrip("/")
            if state["Status"] == "running":
                states[name] = state.get("Health", {}).get("Status", "no healthcheck")
            else:
                states[name] = f"{state['Status']} {state['ExitCode']}"
        return states

    def wait_healthy(self, *, timeout: float = 300) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            states = self.health()
            init = {name: state for name, state in states.items() if "_init_" in name}
            others = {name: state for name, state in states.items() if "_init_" not in name}
            if (
                init
                and all(state == "exited 0" for state in init.values())
                and all(state == "healthy" for state in others.values())
            ):
                return states
            failed = {name: state for name, state in init.items() if state.startswith("exited") and state != "exited 0"}
            if failed or time.monotonic() > deadline:
                raise AssertionError(f"not healthy after {timeout}s: {states}\n{self.compose('logs', '--tail=40')}")
            time.sleep(2)

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service)

    def exec(self, service: str, *args: str) -> str:
        return self.compose("exec", "-T", service, *args)

    def network(self, name: str) -> str:
        return f"{PROJECT}_{name}"

    def container_address(self, container: dict[str, Any], network: str) -> str:
        return str(container["NetworkSettings"]["Networks"][self.network(network)]["IPAddress"])

    # --- clients ---------------------------------------------------------------------------------

    def http(self) -> Http:
        return Http(self.base_url, ca=self.ca)

    def client_container(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        """Sends `requests` from a container of its own on the proxy's `public` network."""
        spec = {"base": "https://proxy", "ca": "/certs/ca.crt", "requests": requests}
        output = run(
            ["docker", "run", "--rm", "-i", "--network", self.network("public"),
             "-v", f"{self.ca}:/certs/ca.crt:ro", "-v", f"{CLIENT_SCRIPT}:/client.py:ro",
             PYTHON_IMAGE, "python3", "/client.py"],
            stdin=json.dumps(spec),
            timeout=120,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(output)
        return result

    # --- Kafka, read from the host ------------------------------------------------------------

    def bootstrap(self) -> str:
        ports = self.kafka_ports if self.kafka3 else self.kafka_ports[:1]
        return ",".join(f"127.0.0.1:{port}" for port in ports)

    def records(self, ids: Iterable[str], *, timeout: float = 120) -> dict[str, Record]:
        """The Kafka records of the events `ids` (their `event_id` header), read from every topic's
        beginning until all are found or `timeout` passes."""
        wanted = set(ids)
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap(),
                "group.id": f"compose-test-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        found: dict[str, Record] = {}
        try:
            topics = [name for name in consumer.list_topics(timeout=20).topics if not name.startswith("__")]
            metadata = consumer.list_topics(timeout=20).topics
            consumer.assign(
                [TopicPartition(topic, partition, 0) for topic in topics for partition in metadata[topic].partitions]
            )
            deadline = time.monotonic() + timeout
            while wanted - set(found) and time.monotonic() < deadline:
                for message in consumer.consume(num_messages=1000, timeout=1):
                    if message.error():
                        continue
                    pairs = cast("list[tuple[str, bytes | str | None]]", message.headers() or [])
                    headers = {
                        key: value.decode() if isinstance(value, bytes) else str(value or "") for key, value in pairs
                    }
                    event_id = headers.get("event_id", "")
                    if event_id in wanted:
                        found[event_id] = Record(
                            topic=message.topic() or "", value=message.value() or b"", headers=headers
                        )
        finally:
            consumer.close()
        return found

    def deserializer(self) -> Deserializer:
        return Deserializer(
            SchemaRegistryClient({"url": f"{self.base_url}/schema-registry", "ssl.ca.location": str(self.ca)})
        )


class Http(requests.Session):
    """HTTPS to the proxy, trusting the test's CA only; paths relative to the proxy's address."""

    def __init__(self, base_url: str, *, ca: Path) -> None:
        super().__init__()
        self.base_url = base_url
        self.verify = str(ca)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        # Per request: requests lets REQUESTS_CA_BUNDLE in the environment win over the session's.
        kwargs.setdefault("verify", self.verify)
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        return super().request(str(method) if isinstance(method, str) else method.decode(), url, *args, **kwargs)


@dataclass
class Record:
    topic: str
    value: bytes
    headers: dict[str, str]

    @property
    def schema_id(self) -> int:
        return int.from_bytes(self.value[1:5], "big")


class Deserializer:
    """Confluent-framed Avro decoded through the service's schema-registry API (behind the proxy)."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        self.client = client
        self.avro = AvroDeserializer(client)

    def decode(self, record: Record) -> dict[str, Any]:
        value = self.avro(record.value, SerializationContext(record.topic, MessageField.VALUE))
        assert isinstance(value, dict), value
        return value


class Load:
    """Events posted through the proxy from the host as fast as the rate limit lets one client, in a
    thread, until stopped: the ids of every accepted (202) event, and the count of every answer."""

    def __init__(self, stack: Stack, example: dict[str, Any], *, batch: int = 20) -> None:
        self.stack, self.example, self.batch = stack, example, batch
        self.accepted: list[str] = []
        self.answers: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _events(self) -> dict[str, Any]:
        session = str(uuid.uuid4())
        return {"events": [{"data": {**self.example, "session_uuid": session}} for _ in range(self.batch)]}

    def _run(self) -> None:
        with self.stack.http() as http:
            while not self.stopping.is_set():
                try:
                    response = http.post("/api/v0/events", json=self._events(), timeout=15)
                except requests.RequestException as exc:
                    self.answers[type(exc).__name__] += 1
                    time.sleep(0.2)
                    continue
                self.answers[str(response.status_code)] += 1
                if response.status_code == 202:
                    self.accepted += response.json()["ids"]
                # One client may send RATE_LIMIT_PER_IP (10/s): some answers are 429 and say so.
                time.sleep(0.05 if response.status_code == 202 else 0.2)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)


def docker(*args: str, timeout: float = 120) -> str:
    return run(["docker", *args], timeout=timeout)


def docker_available() -> bool:
    return shutil.which("docker") is not None and shutil.which("docker-compose") is not None
