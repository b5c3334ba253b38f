"""docker/: the compose stack validates, wires web and worker to its own Kafka, Redis and PostgreSQL,
and uses only documented settings. No services needed; the validation runs the `docker-compose`
client (Debian's package), which CI installs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker" / "compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKER_README = ROOT / "docker" / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
APP_SERVICES = ("web", "worker")
# A setting in .env.example, commented out or not: `NAME=value` or `# NAME=value`.
ENV_EXAMPLE_NAME = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# A variable compose substitutes: `$NAME` or `${NAME...}`; `$$` is a literal `$` for the container.
SUBSTITUTED_NAME = re.compile(r"(?<!\$)(?:\$\$)*\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _compose(*args: str, env: dict[str, str], env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("the docker-compose client is missing: apt-get install docker-compose (CI installs it)")
    # An empty --env-file: a stray .env next to compose.yml must not change the outcome.
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def empty_env_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def env_example_names() -> set[str]:
    return set(ENV_EXAMPLE_NAME.findall(ENV_EXAMPLE.read_text()))


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service = compose["services"][name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, written as a mapping or as a list of `NAME=value`."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Each dependency with its condition (`service_started` when given as a plain list)."""
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        return dict.fromkeys(depends_on, "service_started")
    return {name: (options or {}).get("condition", "service_started") for name, options in depends_on.items()}


def test_the_compose_file_validates_with_docker_compose(empty_env_file):
    env = {**os.environ, "SECRET_KEY": "test-only-compose-secret"}

    result = _compose("config", "-q", env=env, env_file=empty_env_file)

    assert result.returncode == 0, result.stderr


def test_the_compose_file_refuses_to_run_without_a_secret_key(empty_env_file):
    env = {name: value for name, value in os.environ.items() if name != "SECRET_KEY"}

    result = _compose("config", "-q", env=env, env_file=empty_env_file)

    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_the_stack_has_kafka_redis_postgres_init_web_and_worker(compose):
    assert {"kafka", "redis", "postgres", "init", "web", "worker"} <= set(compose["services"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_web_and_worker_reach_postgres_redis_and_kafka_by_their_service_names(compose, name):
    environment = _environment(_service(compose, name))

    database = urlsplit(environment["DATABASE_URL"])
    assert database.scheme.startswith("postgres")
    assert database.hostname == "postgres"
    broker = urlsplit(environment["CELERY_BROKER_URL"])
    assert broker.scheme == "redis"
    assert broker.hostname == "redis"
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert environment["SECRET_KEY"] == "${SECRET_KEY:?set SECRET_KEY}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_web_and_worker_start_after_init_has_succeeded(compose, name):
    depends_on = _depends_on(_service(compose, name))

    assert depends_on["init"] == "service_completed_successfully"
    assert {"postgres", "redis", "kafka"} <= set(depends_on)


def test_kafka_advertises_the_address_the_containers_connect_to(compose):
    environment = _environment(_service(compose, "kafka"))

    assert "PLAINTEXT://kafka:9092" in environment["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_redis_keeps_the_queue_in_an_append_only_file_on_a_volume(compose):
    redis = _service(compose, "redis")
    command = _command(redis)

    assert "--appendonly" in command
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(str(volume).endswith(":/data") for volume in redis.get("volumes", []))


def test_the_web_port_is_published_on_loopback_only(compose):
    assert [str(port) for port in _service(compose, "web")["ports"]] == ["127.0.0.1:8000:8000"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_web_and_worker_are_given_is_in_env_example(compose, env_example_names, name):
    given = set(_environment(_service(compose, name)))

    assert given - env_example_names == set()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_compose_substitutes_for_web_and_worker_is_documented(compose, env_example_names, name):
    substituted = set(SUBSTITUTED_NAME.findall(json.dumps(_service(compose, name))))
    # The stack's own variables (not the service's settings) are documented in docker/README.md.
    readme = DOCKER_README.read_text()

    undocumented = {var for var in substituted - env_example_names if f"`{var}`" not in readme}

    assert "SECRET_KEY" in substituted
    assert undocumented == set()


def test_the_image_copies_every_app_of_the_project():
    copied = set(re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", DOCKERFILE.read_text(), re.MULTILINE))
    local_apps = {app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()}

    assert {"manage.py", "eventcapture", "schemas", *local_apps} <= copied
