"""The compose stack built and run for real (`make compose-test`): docker/compose.yml with the images
of `make images-local`, behind its TLS proxy. In order, on one stack:

1. `up`: every container healthy, the worker's readiness (/ready) included;
2. the service is reached only through the proxy (HTTPS, a CA of the test's own);
3. every catalogue event's example and an xAPI statement posted through the proxy land in Kafka and
   decode through the service's schema-registry API;
4. what the proxy passes on: each client's own address, a rate-limit counter per client, the
   request id in the logs, the admin's login over HTTPS with secure cookies;
7. `down` and `up` again: the registry, its schema ids and the records remain (volumes);
5. a worker killed and Redis restarted under load: no accepted event lost;
6. scaled out, two web and two worker containers and three Kafka brokers (replication 3,
   min.insync 2); a broker killed under load: no accepted event lost.

Each step prints its counts. The tests share the stack and run in this order (the file's)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

from registry.record_fit import XAPI_STATEMENT as XAPI
from tests.compose.stack import ROOT, Load, Stack, docker

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]

SCHEMAS = ROOT / "schemas"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def say(text: str) -> None:
    print(f"\n[compose-test] {text}", flush=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(workdir=tmp_path_factory.mktemp("compose"))
    # A stack a failed earlier run left behind (containers and volumes) is not this run's.
    stack.compose("down", "-v", "--remove-orphans")
    started = time.monotonic()
    try:
        stack.up()
        say(f"docker-compose up -d returned in {time.monotonic() - started:.0f}s")
        yield stack
    finally:
        logs = stack.workdir / "logs.txt"
        logs.write_text(stack.compose("logs", "--no-color", "--tail=300"))
        say(f"the stack's last log lines: {logs}")
        stack.compose("down", "-v", "--remove-orphans")
        say(f"stack up and down in {time.monotonic() - started:.0f}s in all")


@pytest.fixture(autouse=True)
def _timed(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    say(f"{request.node.name}: {time.monotonic() - started:.0f}s")


def _examples() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every shipped major's example, by full name: (its topic, the example)."""
    examples = {}
    for example in sorted(SCHEMAS.rglob("example.json")):
        topic = json.loads((example.parent / "event.json").read_text())["topic"]
        data = json.loads(example.read_text())
        full_name = data.get("type") or XAPI
        examples[full_name] = (topic, data)
    return examples


def _posted(response: requests.Response) -> list[str]:
    assert response.status_code == 202, response.text
    ids: list[str] = response.json()["ids"]
    return ids


def _proxy_log_addresses(stack: Stack) -> dict[str, str]:
    """The proxy's access log: the address it saw for each request id."""
    seen = {}
    for line in stack.logs("proxy").splitlines():
        match = re.search(r"\|\s*(\S+) \[.*request_id=(\S+)", line)
        if match:
            seen[match.group(2)] = match.group(1)
    return seen


def _one(stack: Stack, service: str) -> dict[str, Any]:
    (container,) = stack.containers(service)
    return container


STATE: dict[str, Any] = {}


def test_1_every_container_comes_up_healthy_the_workers_readiness_included(stack: Stack) -> None:
    states = stack.wait_healthy()
    services = {stack.service_of(container) for container in stack.containers()}

    assert services == {"kafka", "redis", "postgres", "init", "web", "worker", "proxy"}
    worker = _one(stack, "worker")
    assert "/ready" in " ".join(worker["Config"]["Healthcheck"]["Test"])
    ask = "import urllib.request as r; print(r.urlopen('http://127.0.0.1:9808/ready', timeout=5).read().decode())"
    ready = json.loads(stack.exec("worker", "python", "-c", ask))
    assert ready["status"] == "ready", ready
    assert ready["needs"] == ["queue", "kafka"]
    say(f"step 1: {len(states)} containers: {states}")


def test_2_the_service_is_reached_only_through_the_tls_proxy(stack: Stack) -> None:
    published = {
        stack.service_of(container): sorted(
            (binding["HostIp"], binding["HostPort"], port)
            for port, bindings in (container["NetworkSettings"]["Ports"] or {}).items()
            for binding in bindings or []
        )
        for container in stack.containers()
        if container["State"]["Status"] == "running"
    }
    with stack.http() as http:
        ping = http.get("/ping")
        info = http.get("/api/v0/info")

    # The proxy on loopback; Kafka's host listener on loopback; nothing else: not the web, not the
    # worker's metrics and readiness (port 9808).
    assert {name for name, ports in published.items() if ports} == {"proxy", "kafka"}
    assert all(host == "127.0.0.1" for ports in published.values() for host, _, _ in ports)
    assert ping.status_code == 200
    assert info.status_code == 200
    assert info.json()["git_sha"] != "unknown"
    # Django took the request for HTTPS (X-Forwarded-Proto): Strict-Transport-Security is only sent so.
    assert "max-age=" in info.headers["strict-transport-security"]
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:8000/ping", timeout=3)
    say(f"step 2: published ports {published}; https /ping {ping.status_code}, /api/v0/info {info.status_code}")


def test_3_every_catalogue_event_and_an_xapi_statement_land_in_kafka_and_decode(stack: Stack) -> None:
    examples = _examples()
    posted: dict[str, str] = {}  # event id -> full name
    with stack.http() as http:
        for full_name, (_topic, example) in examples.items():
            if full_name == XAPI:
                statement = {**example, "id": str(uuid.uuid4())}
                ids = _posted(http.post("/api/v0/xapi/statements", json=statement))
            else:
                ids = _posted(http.post("/api/v0/events", json={"events": [{"data": example}]}))
            posted.update(dict.fromkeys(ids, full_name))

    records = stack.records(posted)
    deserializer = stack.deserializer()
    decoded = {event_id: deserializer.decode(record) for event_id, record in records.items()}

    assert XAPI in posted.values()
    assert len(posted) == len(examples) >= 8
    assert set(records) == set(posted)
    for event_id, record in records.items():
        assert record.headers["event_type"].startswith(posted[event_id])
        assert record.topic == examples[posted[event_id]][0]
        assert decoded[event_id]
    STATE["catalogue_records"] = records
    STATE["schema_ids"] = {record.headers["event_type"]: record.schema_id for record in records.values()}
    assert len(STATE["schema_ids"]) == len(examples)
    say(
        f"step 3: posted {len(posted)} events ({len(examples) - 1} catalogue majors + 1 xAPI statement), "
        f"landed {len(records)}, decoded {len(decoded)}, lost {len(set(posted) - set(records))}"
    )


def test_4_the_proxy_passes_on_the_clients_address_and_request_id(stack: Stack) -> None:
    _topic, started_session = _examples()["org.openstax.ec.started_session_v1"]
    body = {"events": [{"data": started_session}]}
    host_request_id = f"compose-test-{uuid.uuid4().hex}"
    with stack.http() as http:
        answer = http.post("/api/v0/events", json=body, headers={"X-Request-ID": host_request_id})
        unnamed = http.post("/api/v0/events", json=body)
    (host_event,) = _posted(answer)
    (unnamed_event,) = _posted(unnamed)
    container_request_id = f"compose-test-{uuid.uuid4().hex}"
    client = stack.client_container(
        [{"path": "/api/v0/events", "body": body, "headers": {"X-Request-ID": container_request_id}}]
    )
    (container_answer,) = client["results"]
    assert container_answer["status"] == 202, container_answer
    (container_event,) = json.loads(container_answer["body"])["ids"]

    records = stack.records([host_event, container_event])
    deserializer = stack.deserializer()
    recorded = {event_id: deserializer.decode(record)["ip_address"] for event_id, record in records.items()}
    seen_by_proxy = _proxy_log_addresses(stack)
    proxy_address = stack.container_address(_one(stack, "proxy"), "edge")
    web_logs = stack.logs("web")

    # Each event records the address the proxy saw, never the proxy's own.
    assert recorded[host_event] == seen_by_proxy[host_request_id]
    assert recorded[container_event] == seen_by_proxy[container_request_id] == client["address"]
    assert recorded[host_event] != recorded[container_event]
    assert proxy_address not in recorded.values()
    # The request id: the client's when it names one, else the proxy's; answered and logged by the web.
    assert answer.headers["x-request-id"] == host_request_id
    assert container_answer["request_id"] == container_request_id
    assert HEX_ID.match(unnamed.headers["x-request-id"])
    assert unnamed.headers["x-request-id"] in seen_by_proxy
    for request_id in (host_request_id, container_request_id, unnamed.headers["x-request-id"]):
        assert request_id in web_logs
    say(
        f"step 4: the host's event recorded {recorded[host_event]}, the container's {recorded[container_event]} "
        f"(the proxy is {proxy_address}); 3 request ids in the web's log; unnamed event {unnamed_event}"
    )


def test_4_two_clients_have_rate_limit_counters_of_their_own(stack: Stack) -> None:
    burst: list[int] = []
    stop = threading.Event()

    def host_burst() -> None:
        with stack.http() as http:
            while not stop.is_set() or len(burst) < 30:
                burst.append(http.post("/api/v0/events", json={"events": []}).status_code)

    thread = threading.Thread(target=host_burst)
    thread.start()
    try:
        time.sleep(0.5)
        # Another client meanwhile: 6 requests over 1.5 s, well under its own 10 a second.
        client = stack.client_container(
            [{"path": "/api/v0/events", "body": {"events": []}, "delay": 0.25} for _ in range(6)]
        )
        keys = stack.exec("redis", "redis-cli", "-n", "1", "--scan", "--pattern", "*throttle_ip_*")
    finally:
        stop.set()
        thread.join(timeout=60)
    container_statuses = [result["status"] for result in client["results"]]
    limited_addresses = {key.split("throttle_ip_")[1].split(":")[0] for key in keys.split()}

    assert 429 in burst
    assert 202 in burst
    assert container_statuses == [202] * 6
    assert client["address"] in limited_addresses
    assert len(limited_addresses) >= 2
    say(
        f"step 4: rate limit {burst.count(202)} accepted and {burst.count(429)} refused (429) of the host's "
        f"{len(burst)} requests; the container's {len(container_statuses)} all accepted; counters for "
        f"{sorted(limited_addresses)}"
    )


def test_4_the_admin_logs_in_over_https_with_secure_cookies(stack: Stack) -> None:
    stack.compose(
        "exec", "-T", "-e", f"DJANGO_SUPERUSER_PASSWORD={stack.admin_password}", "web",
        "python", "manage.py", "createsuperuser", "--noinput", "--username", "compose-admin",
        "--email", "admin@example.org",
    )  # fmt: skip
    login_url = f"{stack.base_url}/admin/login/?next=/admin/"
    with stack.http() as http:
        form = http.get("/admin/login/", params={"next": "/admin/"}, allow_redirects=False)
        csrf_cookie = " ".join(form.raw.headers.getlist("Set-Cookie"))
        token = http.cookies["csrftoken"]
        login = http.post(
            "/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": token, "username": "compose-admin", "password": stack.admin_password,
                  "next": "/admin/"},
            headers={"Referer": login_url, "Origin": stack.base_url},
            allow_redirects=False,
        )  # fmt: skip
        (session_cookie,) = [line for line in login.raw.headers.getlist("Set-Cookie") if line.startswith("sessionid=")]
        admin = http.get("/admin/")

    assert form.status_code == 200
    assert "secure" in csrf_cookie.lower()
    assert login.status_code == 302, login.text[:500]
    assert login.headers["location"] == "/admin/"
    assert "sessionid=" in session_cookie
    assert "secure" in session_cookie.lower()
    assert "httponly" in session_cookie.lower()
    assert admin.status_code == 200
    assert "compose-admin" in admin.text
    say("step 4: admin login over HTTPS: 302 to /admin/, csrftoken and sessionid cookies Secure")


def test_7_down_and_up_again_keeps_the_registry_its_schema_ids_and_the_records(stack: Stack) -> None:
    with stack.http() as http:
        subjects_before = http.get("/schema-registry/subjects").json()
    stack.compose("down")
    stack.up()
    stack.wait_healthy()
    with stack.http() as http:
        subjects_after = http.get("/schema-registry/subjects").json()
        ids_after = {
            subject: http.get(f"/schema-registry/subjects/{subject}/versions/latest").json()["id"]
            for subject in subjects_after
        }
    records = stack.records(STATE["catalogue_records"], timeout=60)
    deserializer = stack.deserializer()

    assert subjects_after == subjects_before
    for full_name, schema_id in STATE["schema_ids"].items():
        assert schema_id in ids_after.values(), (full_name, schema_id, ids_after)
    assert set(records) == set(STATE["catalogue_records"])
    assert all(deserializer.decode(record) for record in records.values())
    say(
        f"step 7: {len(subjects_after)} subjects and their schema ids unchanged after down and up; "
        f"{len(records)} earlier records still in Kafka and decoded"
    )


def _lost(stack: Stack, accepted: list[str], *, timeout: float = 150) -> tuple[int, int]:
    landed = stack.records(accepted, timeout=timeout)
    return len(landed), len(set(accepted) - set(landed))


def test_5_a_killed_worker_and_a_restarted_redis_lose_no_accepted_event(stack: Stack) -> None:
    _topic, nudged = _examples()["org.openstax.ec.nudged_v1"]
    worker = _one(stack, "worker")["Id"]
    redis = _one(stack, "redis")["Id"]

    with Load(stack, nudged) as load:
        time.sleep(5)
        docker("kill", worker)
        time.sleep(5)
        docker("start", worker)
        time.sleep(5)
    killed = load
    with Load(stack, nudged) as load:
        time.sleep(5)
        docker("restart", "-t", "10", redis)
        time.sleep(8)
    restarted = load
    stack.wait_healthy(timeout=120)

    results = {}
    for name, run in (("worker killed", killed), ("redis restarted", restarted)):
        landed, lost = _lost(stack, run.accepted)
        results[name] = (len(run.accepted), landed, lost, dict(run.answers))
    for name, (accepted, landed, lost, answers) in results.items():
        say(f"step 5: {name}: accepted {accepted}, landed {landed}, lost {lost}; answers {answers}")
    assert all(accepted > 0 for accepted, _, _, _ in results.values())
    assert [lost for _, _, lost, _ in results.values()] == [0, 0]


def _replication(stack: Stack) -> set[tuple[int, str]]:
    """The topics' (replication factor, min.insync.replicas), as the brokers report them."""
    admin = AdminClient({"bootstrap.servers": stack.bootstrap()})
    topics = {name: topic for name, topic in admin.list_topics(timeout=20).topics.items() if not name.startswith("__")}
    configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in topics])
    insync = {resource.name: future.result()["min.insync.replicas"].value for resource, future in configs.items()}
    assert topics
    return {
        (len(partition.replicas), insync[name])
        for name, topic in topics.items()
        for partition in topic.partitions.values()
    }


def test_6_scaled_out_with_three_brokers_one_killed_under_load_loses_no_accepted_event(stack: Stack) -> None:
    started = time.monotonic()
    # The one-node broker goes first: recreated in place, compose 1.29 would carry its data (a
    # one-voter cluster, topics of replication 1) over to node 1 of the new cluster.
    stack.compose("rm", "--stop", "--force", "kafka")
    stack.kafka3 = True
    stack.scale = {"web": 2, "worker": 2}
    stack.up()
    states = stack.wait_healthy(timeout=420)
    say(f"step 6: scaled out in {time.monotonic() - started:.0f}s: {states}")
    replication = _replication(stack)
    _topic, nudged = _examples()["org.openstax.ec.nudged_v1"]
    victim = _one(stack, "kafka-2")["Id"]

    with Load(stack, nudged) as load:
        time.sleep(8)
        docker("kill", victim)
        time.sleep(15)
        docker("start", victim)
        time.sleep(5)
    stack.wait_healthy(timeout=180)
    landed, lost = _lost(stack, load.accepted)
    upstreams = set(re.findall(r"upstream=(\S+)", stack.logs("proxy")))
    webs = {stack.container_address(container, "edge") for container in stack.containers("web")}

    say(
        f"step 6: 2 web, 2 worker, 3 brokers; broker 2 killed for 15 s under load: accepted {len(load.accepted)}, "
        f"landed {landed}, lost {lost}; answers {dict(load.answers)}; the proxy used {sorted(upstreams)}"
    )
    assert replication == {(3, "2")}
    assert len(stack.containers("web")) == 2
    assert len(stack.containers("worker")) == 2
    assert len(load.accepted) > 0
    assert lost == 0
    assert webs <= {upstream.rsplit(":", 1)[0] for upstream in upstreams}
