"""docker/: the compose stack validates, wires web and worker to its own Kafka, Redis and PostgreSQL,
takes the operator's settings from an env file, pins its images, puts the web behind its TLS proxy,
offers Kafka and a Kafka UI to the host on loopback, and uses only documented settings; the image has
a healthcheck, carries its version and commit and builds on the base it is given; the override
files (local images, three brokers) resolve with it. No services needed: `docker-compose config`
(Debian's package, which CI installs) resolves the files as compose would run them; nothing is
built or run here (`make compose-test` does, tests/compose/)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings

# docker-compose is a tool beyond the virtualenv, which most of these drive (docs/development.md,
# Tests): `make test` installs it, `make test-unit` leaves the module out.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker" / "compose.yml"
LOCAL_FILE = ROOT / "docker" / "compose.local.yml"
KAFKA3_FILE = ROOT / "docker" / "compose.kafka3.yml"
NGINX_CONF = ROOT / "docker" / "nginx" / "eventcapture.conf"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKER_README = ROOT / "docker" / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
APP_SERVICES = ("web", "worker")
# The services that run the project's image (built here, so not pinned to a registry's tag).
IMAGE_SERVICES = ("init", "web", "worker")
UI = "kafka-ui"
PROXY = "proxy"
# A setting in .env.example, commented out or not: `NAME=value` or `# NAME=value`.
ENV_EXAMPLE_NAME = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# A variable compose substitutes: `$NAME` or `${NAME...}`; `$$` is a literal `$` for the container.
SUBSTITUTED_NAME = re.compile(r"(?<!\$)(?:\$\$)*\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# An exact release: major.minor.patch, as `4.1.1`, `v1.5.0` or `3.11.15-slim`. `redis:7`,
# `postgres:15`, `python:3.11-slim` and `latest` all move. PostgreSQL numbers its releases
# major.minor since 10: `postgres:15.18` is one release.
EXACT_TAG = re.compile(r"v?\d+\.\d+\.\d+(?:-[A-Za-z0-9.-]+)?")
TWO_PART_RELEASES = {"postgres": re.compile(r"\d+\.\d+(?:-[A-Za-z0-9.-]+)?")}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# What an operator puts in the env file, and what compose must give the containers instead of its
# addresses, which only work outside the stack.
OPERATOR_SETTINGS = {
    "KAFKA_COMPRESSION_TYPE": "gzip",
    "LOG_LEVEL": "DEBUG",
    "METRICS_TOKEN": "test-only-metrics-token",
    "CORS_ALLOWED_ORIGIN_REGEXES": r"^https://app\.example\.org$",
    "RATE_LIMIT_PER_IP": "30/min",
    "KAFKA_LINGER_MS": "20",
}
HOST_ADDRESSES = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "RATELIMIT_CACHE_URL": "redis://127.0.0.1:6379/1",
    "DATABASE_URL": "sqlite:////tmp/db.sqlite3",
    "STATIC_ROOT": "/home/someone/eventcapture/.stack/static",
}


def _compose(
    *args: str, env: dict[str, str], env_file: Path, files: tuple[Path, ...] = (COMPOSE_FILE,)
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("the docker-compose client is missing: apt-get install docker-compose (CI installs it)")
    # An empty --env-file: a stray docker/.env must not change the outcome. Only the variables given
    # reach compose, not those of the shell running the tests.
    return subprocess.run(
        [binary, "--env-file", str(env_file), *(f"--file={file}" for file in files), *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


@pytest.fixture
def empty_env_file(tmp_path: Path) -> Path:
    return _write_env(tmp_path / "empty.env", {})


@pytest.fixture
def settings_env_file(tmp_path: Path) -> Path:
    """The operator's env file: settings of their own, and addresses that only work on the host."""
    return _write_env(tmp_path / "operator.env", {**OPERATOR_SETTINGS, **HOST_ADDRESSES})


def _resolved(
    *, env_file: Path, tmp_path: Path, files: tuple[Path, ...] = (COMPOSE_FILE,), **variables: str
) -> dict[str, Any]:
    """The compose file (with `files` over it) as compose runs it, with `env_file` as the operator's
    settings file."""
    env = {"SECRET_KEY": "test-only-compose-secret", "EVENTCAPTURE_ENV_FILE": str(env_file), **variables}
    result = _compose("config", env=env, env_file=_write_env(tmp_path / "compose-variables.env", {}), files=files)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict)
    # `config` writes a value's `$` as `$$`, so that its output is a compose file again.
    for service in config["services"].values():
        if isinstance(service.get("environment"), dict):
            service["environment"] = {
                name: value.replace("$$", "$") if isinstance(value, str) else value
                for name, value in service["environment"].items()
            }
    return config


@pytest.fixture
def resolved(tmp_path: Path, settings_env_file: Path) -> dict[str, Any]:
    return _resolved(env_file=settings_env_file, tmp_path=tmp_path)


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


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """The service's published ports as (host address, host port, container port); compose writes
    them as `host_ip:published:target[/protocol]` or as a mapping."""
    published = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published.append((str(port.get("host_ip", "")), int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        published.append((host_ip, int(parts[-2]), int(parts[-1])))
    return published


def _is_pinned(image: str) -> bool:
    """An image named by digest, or by a tag of an exact release."""
    if DIGEST.search(image):
        return True
    name, _, tag = image.rpartition(":")
    exact = TWO_PART_RELEASES.get(name, EXACT_TAG)
    return bool(name) and "/" not in tag and exact.fullmatch(tag) is not None


def _dockerfile_instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction in the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [match.group(1).strip() for match in re.finditer(rf"^{name}\s+(.*)$", text, re.MULTILINE)]


def test_the_compose_file_validates_with_docker_compose(empty_env_file):
    env = {"SECRET_KEY": "test-only-compose-secret", "EVENTCAPTURE_ENV_FILE": str(empty_env_file)}

    result = _compose("config", "-q", env=env, env_file=empty_env_file)

    assert result.returncode == 0, result.stderr


def test_the_compose_file_refuses_to_run_without_a_secret_key(empty_env_file):
    env = {"EVENTCAPTURE_ENV_FILE": str(empty_env_file)}

    result = _compose("config", "-q", env=env, env_file=empty_env_file)

    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_the_stack_has_kafka_redis_postgres_init_web_worker_and_the_proxy(compose):
    assert {"kafka", "redis", "postgres", "init", "web", "worker", PROXY} <= set(compose["services"])


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


def test_only_the_proxy_publishes_the_web_on_loopback_and_neither_web_nor_worker_publish_a_port(resolved):
    # The worker's metrics and readiness (9808) stay inside the stack; the web scales out behind the proxy.
    assert _published(_service(resolved, "web")) == []
    assert _published(_service(resolved, "worker")) == []
    assert _published(_service(resolved, PROXY)) == [("127.0.0.1", 8443, 443)]


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


@pytest.mark.parametrize("name", ["kafka", "redis", "postgres", UI, PROXY])
def test_every_variable_compose_substitutes_for_the_other_services_is_documented(compose, name):
    substituted = set(SUBSTITUTED_NAME.findall(json.dumps(_service(compose, name))))
    readme = DOCKER_README.read_text()

    assert {var for var in substituted if f"`{var}`" not in readme} == set()


def test_the_image_copies_every_app_of_the_project():
    copied = set(re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", DOCKERFILE.read_text(), re.MULTILINE))
    local_apps = {app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()}

    assert {"manage.py", "eventcapture", "schemas", *local_apps} <= copied


def test_exact_tags_count_as_pinned_and_moving_ones_do_not():
    pinned = [
        "apache/kafka:4.1.1",
        "ghcr.io/kafbat/kafka-ui:v1.5.0",
        "nginx:1.28.0",
        "python:3.11.15-slim",
        "postgres:15.18",
        "redis@sha256:" + "0" * 64,
    ]
    moving = ["redis:7", "redis:7.4", "postgres:15", "python:3.11-slim", "redis:latest", "redis", "host:5000/redis"]

    assert [image for image in pinned if not _is_pinned(image)] == []
    assert [image for image in moving if _is_pinned(image)] == []


def test_every_image_the_stack_pulls_is_pinned_to_an_exact_release(resolved):
    pulled = {name: service["image"] for name, service in resolved["services"].items() if name not in IMAGE_SERVICES}

    assert set(pulled) >= {"kafka", "redis", "postgres", UI, PROXY}
    assert {name: image for name, image in pulled.items() if not _is_pinned(image)} == {}


def _default_base_images() -> list[str]:
    """The images of the Dockerfile's FROMs, a build argument given before the first as its default."""
    text = DOCKERFILE.read_text()
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)$", text.split("\nFROM ", 1)[0], re.MULTILINE))
    bases = [instruction.split()[0] for instruction in _dockerfile_instructions("FROM")]
    return [re.sub(r"\$\{(\w+)\}", lambda match: defaults[match.group(1)], base) for base in bases]


def test_the_images_the_dockerfile_builds_from_are_pinned_to_an_exact_release():
    bases = _default_base_images()

    assert bases
    assert [image for image in bases if not _is_pinned(image)] == []


def test_both_stages_build_from_the_base_image_argument_the_official_python_by_default():
    bases = [instruction.split()[0] for instruction in _dockerfile_instructions("FROM")]
    text = DOCKERFILE.read_text()

    assert bases == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert _default_base_images() == ["python:3.11.15-slim", "python:3.11.15-slim"]
    # Debian's Python (the local base) has python3 only; the virtualenv has python.
    assert "RUN python3 -m venv /opt/venv" in text


@pytest.mark.parametrize("name", IMAGE_SERVICES)
def test_the_settings_of_the_env_file_reach_the_containers(resolved, name):
    environment = _environment(_service(resolved, name))

    assert {setting: environment.get(setting) for setting in OPERATOR_SETTINGS} == OPERATOR_SETTINGS


@pytest.mark.parametrize("name", IMAGE_SERVICES)
def test_the_stacks_own_addresses_win_over_those_of_the_env_file(resolved, name):
    environment = _environment(_service(resolved, name))

    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert environment["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert urlsplit(environment["CELERY_BROKER_URL"]).hostname == "redis"
    assert urlsplit(environment["RATELIMIT_CACHE_URL"]).hostname == "redis"
    assert urlsplit(environment["DATABASE_URL"]).hostname == "postgres"
    assert environment["STATIC_ROOT"] == "/app/staticfiles"
    assert environment["SECRET_KEY"] == "test-only-compose-secret"


def test_the_env_file_is_dot_env_at_the_repository_root_unless_named(compose):
    for name in IMAGE_SERVICES:
        env_files = _service(compose, name)["env_file"]

        # Relative to docker/: the repository root's .env, which `make run` uses too.
        assert env_files == ["${EVENTCAPTURE_ENV_FILE:-../.env}"]


def test_without_its_env_file_compose_names_the_file_it_is_missing(tmp_path, empty_env_file):
    missing = tmp_path / "missing.env"
    env = {"SECRET_KEY": "test-only-compose-secret", "EVENTCAPTURE_ENV_FILE": str(missing)}

    result = _compose("config", "-q", env=env, env_file=empty_env_file)

    assert result.returncode != 0
    assert str(missing) in result.stderr


@pytest.mark.parametrize("name", IMAGE_SERVICES)
def test_env_example_copied_to_the_env_file_gives_a_working_stack(tmp_path, name):
    environment = _environment(_service(_resolved(env_file=ENV_EXAMPLE, tmp_path=tmp_path), name))

    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert urlsplit(environment["CELERY_BROKER_URL"]).hostname == "redis"
    assert urlsplit(environment["RATELIMIT_CACHE_URL"]).hostname == "redis"
    # The image's commit (its GIT_SHA) stays: an empty GIT_SHA from the file would hide it.
    assert "GIT_SHA" not in environment
    assert environment["KAFKA_TOPIC_REPLICATION"] == "1"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_rate_limits_count_in_the_stacks_redis_in_another_database_than_the_queue(resolved, name):
    environment = _environment(_service(resolved, name))
    queue = urlsplit(environment["CELERY_BROKER_URL"])
    limits = urlsplit(environment["RATELIMIT_CACHE_URL"])

    assert (limits.scheme, limits.hostname, limits.port) == (queue.scheme, queue.hostname, queue.port)
    assert limits.path.strip("/") != queue.path.strip("/")


def test_the_kafka_ui_browses_the_stacks_broker_and_decodes_through_the_webs_registry(resolved):
    ui = _environment(_service(resolved, UI))
    web = _environment(_service(resolved, "web"))
    registry = urlsplit(ui["KAFKA_CLUSTERS_0_SCHEMAREGISTRY"])

    assert ui["KAFKA_CLUSTERS_0_NAME"]
    assert ui["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == web["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert (registry.scheme, registry.hostname, registry.port, registry.path) == (
        "http",
        "web",
        8000,
        "/schema-registry",
    )
    assert ui["KAFKA_CLUSTERS_0_DEFAULTVALUESERDE"] == "SchemaRegistry"
    # The web answers requests for the host name the UI sends.
    assert "web" in web["ALLOWED_HOSTS"].split(",")
    assert ui["KAFKA_CLUSTERS_0_READONLY"] == "true"


def test_the_web_accepts_its_service_name_besides_the_operators_hosts(tmp_path, settings_env_file):
    resolved = _resolved(env_file=settings_env_file, tmp_path=tmp_path, ALLOWED_HOSTS="events.example.org")

    allowed = _environment(_service(resolved, "web"))["ALLOWED_HOSTS"].split(",")

    # The first entry is the Host the image's healthcheck sends.
    assert allowed == ["events.example.org", "web"]


def test_the_kafka_ui_is_published_on_loopback_only(resolved):
    assert _published(_service(resolved, UI)) == [("127.0.0.1", 8080, 8080)]


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` as {name: (host, port)}."""
    listeners = {}
    for listener in value.split(","):
        name, _, address = listener.partition("://")
        host, _, port = address.rpartition(":")
        listeners[name] = (host, int(port))
    return listeners


def test_kafka_has_a_listener_for_the_host_published_on_loopback(tmp_path, empty_env_file):
    kafka = _service(_resolved(env_file=empty_env_file, tmp_path=tmp_path, KAFKA_HOST_PORT="39092"), "kafka")
    environment = _environment(kafka)
    advertised = _listeners(environment["KAFKA_ADVERTISED_LISTENERS"])
    bound = _listeners(environment["KAFKA_LISTENERS"])
    protocols = dict(item.split(":") for item in environment["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))

    assert advertised["PLAINTEXT"] == ("kafka", 9092)
    (host_listener,) = [name for name, (host, _) in advertised.items() if host in ("127.0.0.1", "localhost")]
    assert advertised[host_listener] == ("127.0.0.1", 39092)
    assert protocols[host_listener] == "PLAINTEXT"
    # Published where it is advertised, from the port it listens on in the container, on loopback only.
    assert _published(kafka) == [("127.0.0.1", 39092, bound[host_listener][1])]


def test_init_does_not_run_the_webs_healthcheck_and_the_worker_checks_its_readiness(resolved):
    init = _service(resolved, "init")["healthcheck"]
    worker = _service(resolved, "worker")["healthcheck"]
    program, flag, code = worker["test"][1:]

    assert init.get("disable") is True or init.get("test") == ["NONE"]
    # The worker's /ready (operations/health.py, worker_readiness_response) beside its metrics on 9808.
    assert (worker["test"][0], program, flag) == ("CMD", "python", "-c")
    compile(code, "worker healthcheck", "exec")
    assert "http://127.0.0.1:9808/ready" in code
    assert "WORKER_METRICS_HOST=0.0.0.0" in " ".join(_command(_service(resolved, "worker")))


def test_every_service_but_init_has_a_healthcheck(resolved):
    unchecked = [
        name
        for name, service in resolved["services"].items()
        if name not in ("init", "web") and not (service.get("healthcheck") or {}).get("test")
    ]

    # The web's is the image's (HEALTHCHECK, below).
    assert unchecked == []


def test_the_image_has_a_healthcheck_on_the_webs_ping():
    (healthcheck,) = _dockerfile_instructions("HEALTHCHECK")

    options, _, command = healthcheck.partition(" CMD ")
    # The exec form, as JSON: Docker runs anything else through a shell, which the array is not.
    program, flag, code = json.loads(command)

    assert "--timeout=" in options
    assert (program, flag) == ("python", "-c")
    compile(code, "HEALTHCHECK", "exec")
    assert "http://127.0.0.1:8000/ping" in code
    assert "timeout=5" in code


def test_the_image_carries_its_version_and_commit_as_env_and_labels():
    args = {instruction.split("=")[0] for instruction in _dockerfile_instructions("ARG")}
    env = " ".join(_dockerfile_instructions("ENV"))
    labels = " ".join(_dockerfile_instructions("LABEL"))
    copied = " ".join(_dockerfile_instructions("COPY"))

    assert {"VERSION", "GIT_SHA"} <= args
    assert "GIT_SHA=${GIT_SHA}" in env
    assert 'org.opencontainers.image.revision="${GIT_SHA}"' in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    # /api/v0/info reads the version from pyproject.toml (operations/health.py).
    assert "pyproject.toml" in copied


def test_compose_builds_the_image_with_the_version_and_commit_it_is_given(tmp_path, empty_env_file):
    resolved = _resolved(env_file=empty_env_file, tmp_path=tmp_path, GIT_SHA="0123abcd", VERSION="0.1.0")

    for name in IMAGE_SERVICES:
        assert _service(resolved, name)["build"]["args"] == {"GIT_SHA": "0123abcd", "VERSION": "0.1.0"}


def _image_app(tmp_path: Path) -> Path:
    """The image's /app: what the Dockerfile copies from the repository to a relative destination,
    without .git (the image has none)."""
    app = tmp_path / "app"
    app.mkdir()
    for instruction in _dockerfile_instructions("COPY"):
        *sources, destination = instruction.split()
        if sources[0].startswith("--") or destination.startswith("/"):
            continue  # the build stage's venv and requirements, not the application
        for source in sources:
            target = app / Path(source).name if destination.endswith("/") else app / destination
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / source, target)
    return app


def _reported_version_and_commit(app: Path, **variables: str) -> list[str]:
    """What /api/v0/info's version and commit come from, asked of Django set up in `app`."""
    script = (
        "import django; django.setup(); "
        "from operations.health import app_version, git_sha; print(app_version(), git_sha())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=app,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(app),
            "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
            "SECRET_KEY": "test-only-image-secret",
            **variables,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_image_reports_its_version_and_the_commit_it_was_built_with(tmp_path):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    app = _image_app(tmp_path)

    assert _reported_version_and_commit(app, GIT_SHA="0123abcd") == [version, "0123abcd"]
    # Built without GIT_SHA: the version still, and no commit to find.
    assert _reported_version_and_commit(app) == [version, "unknown"]


# --- the proxy -----------------------------------------------------------------------------------


def _networks(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks") or ["default"]
    return set(networks)


def test_the_web_believes_forwarded_addresses_only_from_the_proxys_internal_network(resolved):
    web = _service(resolved, "web")
    environment = _environment(web)
    edge = resolved["networks"]["edge"]
    (subnet,) = [config["subnet"] for config in edge["ipam"]["config"]]
    on_edge = {name for name, service in resolved["services"].items() if "edge" in _networks(service)}

    assert environment["TRUSTED_PROXIES"] == subnet
    # Internal: no gateway of the host's in it, so no client can be one of the "proxies".
    assert edge["internal"] is True
    assert on_edge == {"web", PROXY}
    assert "edge" not in _networks(_service(resolved, "worker"))
    assert environment["SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO,https"
    assert environment["CSRF_TRUSTED_ORIGINS"] == "https://localhost:8443"


def test_the_proxy_subnet_and_public_origin_follow_the_stacks_variables(tmp_path, empty_env_file):
    resolved = _resolved(
        env_file=empty_env_file,
        tmp_path=tmp_path,
        PROXY_SUBNET="10.99.0.0/24",
        CSRF_TRUSTED_ORIGINS="https://events.example.org",
        PROXY_PORT="443",
        PROXY_ADDRESS="192.0.2.10",
    )
    web = _environment(_service(resolved, "web"))

    assert web["TRUSTED_PROXIES"] == "10.99.0.0/24"
    assert resolved["networks"]["edge"]["ipam"]["config"] == [{"subnet": "10.99.0.0/24"}]
    assert web["CSRF_TRUSTED_ORIGINS"] == "https://events.example.org"
    assert _published(_service(resolved, PROXY)) == [("192.0.2.10", 443, 443)]


def test_the_proxy_terminates_tls_and_passes_on_the_client_the_scheme_and_the_request_id():
    text = NGINX_CONF.read_text()
    headers = dict(re.findall(r"^\s*proxy_set_header\s+(\S+)\s+(.+?);", text, re.MULTILINE))

    assert re.search(r"^\s*listen 443 ssl", text, re.MULTILINE)
    assert "ssl_certificate /etc/nginx/certs/tls.crt;" in text
    assert "ssl_certificate_key /etc/nginx/certs/tls.key;" in text
    # The address the proxy saw, not a chain the client could have started.
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["Host"] == "$http_host"
    assert headers["X-Request-ID"] == "$eventcapture_request_id"
    assert re.search(r'map \$http_x_request_id \$eventcapture_request_id \{[^}]*"" \$request_id;', text)
    assert "http://web:8000" in text


def test_the_proxy_mounts_its_configuration_and_certificate_and_waits_for_the_web(resolved):
    proxy = _service(resolved, PROXY)
    mounts = _volumes(proxy)

    assert Path(mounts["/etc/nginx/conf.d/eventcapture.conf"][0]) == NGINX_CONF
    assert mounts["/etc/nginx/certs"][0].endswith("/docker/certs")
    assert {mode for _, mode in mounts.values()} == {"ro"}
    assert _depends_on(proxy) == {"web": "service_healthy"}
    assert _networks(proxy) == {"public", "edge"}


# --- the override files ---------------------------------------------------------------------------

LOCAL_IMAGE = re.compile(r"^eventcapture(-local/[a-z]+:[0-9a-z.-]+|:local)$")


def test_the_local_override_runs_every_service_from_images_built_here(tmp_path, empty_env_file):
    resolved = _resolved(env_file=empty_env_file, tmp_path=tmp_path, files=(COMPOSE_FILE, LOCAL_FILE))
    images = {name: service["image"] for name, service in resolved["services"].items()}

    # The Kafka UI's image cannot be built from packages: left out unless its profile is asked for.
    assert resolved["services"][UI]["profiles"] == ["kafka-ui"]
    assert {"kafka", "redis", "postgres", "init", "web", "worker", PROXY, UI} == set(images)
    assert {name: image for name, image in images.items() if not LOCAL_IMAGE.match(image)} == {
        UI: "ghcr.io/kafbat/kafka-ui:v1.5.0"
    }
    for name in IMAGE_SERVICES:
        assert resolved["services"][name]["build"]["args"]["BASE_IMAGE"] == "eventcapture-local/python:bookworm"


def test_the_local_redis_listens_to_the_other_containers_and_keeps_the_queue_on_its_volume(tmp_path, empty_env_file):
    resolved = _resolved(env_file=empty_env_file, tmp_path=tmp_path, files=(COMPOSE_FILE, LOCAL_FILE))
    command = _command(_service(resolved, "redis"))

    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--dir") + 1] == "/data"
    assert command[command.index("--protected-mode") + 1] == "no"


def _volumes(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The service's mounts as {target: (source, mode)}; compose 1.29 writes `source:target:mode`."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts[str(volume["target"])] = (str(volume["source"]), "ro" if volume.get("read_only") else "rw")
        else:
            source, target, *mode = str(volume).split(":")
            mounts[target] = (source, mode[0] if mode else "rw")
    return mounts


def test_the_kafka_ui_comes_back_with_its_profile(tmp_path, empty_env_file):
    env = {"SECRET_KEY": "test-only-compose-secret", "EVENTCAPTURE_ENV_FILE": str(empty_env_file)}

    result = _compose(
        "--profile",
        "kafka-ui",
        "config",
        "--services",
        env=env,
        env_file=empty_env_file,
        files=(COMPOSE_FILE, LOCAL_FILE),
    )

    assert result.returncode == 0, result.stderr
    assert UI in result.stdout.split()


@pytest.fixture
def kafka3(tmp_path: Path, empty_env_file: Path) -> dict[str, Any]:
    return _resolved(
        env_file=empty_env_file,
        tmp_path=tmp_path,
        files=(COMPOSE_FILE, LOCAL_FILE, KAFKA3_FILE),
        KAFKA_HOST_PORT="39092",
    )


def test_the_three_broker_profile_is_one_kraft_quorum_with_replication_3_and_min_insync_2(kafka3):
    brokers = {name: _environment(_service(kafka3, name)) for name in ("kafka", "kafka-2", "kafka-3")}
    voters = {environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] for environment in brokers.values()}
    cluster_ids = {environment["CLUSTER_ID"] for environment in brokers.values()}

    assert voters == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert len(cluster_ids) == 1
    assert sorted(environment["KAFKA_NODE_ID"] for environment in brokers.values()) == ["1", "2", "3"]
    for name, environment in brokers.items():
        assert f"PLAINTEXT://{name}:9092" in environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert environment["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert environment["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
    for name in IMAGE_SERVICES:
        environment = _environment(_service(kafka3, name))
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
        assert environment["KAFKA_TOPIC_REPLICATION"] == "3"


def test_each_of_the_three_brokers_has_a_host_listener_on_loopback_and_a_volume_of_its_own(kafka3):
    published = {name: _published(_service(kafka3, name)) for name in ("kafka", "kafka-2", "kafka-3")}
    volumes = {name: _volumes(_service(kafka3, name))["/var/lib/kafka/data"][0] for name in published}

    assert published == {
        "kafka": [("127.0.0.1", 39092, 29092)],
        "kafka-2": [("127.0.0.1", 29093, 29092)],
        "kafka-3": [("127.0.0.1", 29094, 29092)],
    }
    for name, ports in published.items():
        advertised = _listeners(_environment(_service(kafka3, name))["KAFKA_ADVERTISED_LISTENERS"])
        assert advertised["HOST"] == ("127.0.0.1", ports[0][1])
    assert sorted(volumes.values()) == ["kafka3-data-1", "kafka3-data-2", "kafka3-data-3"]


def test_with_three_brokers_init_creates_the_topics_once_all_three_have_registered(kafka3):
    init = _service(kafka3, "init")
    script = " ".join(_command(init))

    assert {"kafka", "kafka-2", "kafka-3"} <= set(_depends_on(init))
    assert script.index("brokers() < 3") < script.index("populate_topics")
