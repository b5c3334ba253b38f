"""Prometheus metrics: /metrics on the web side, the worker's exporter, and that the counters move
when events are accepted, refused, delivered or fail; multiprocess mode merges processes."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from eventcapture import metrics
from events.identity import Identity
from events.services import batch_prepare
from kafka_bridge.delivery import batch_deliver
from kafka_bridge.producer import DeliveryFailed, producer_reset
from kafka_bridge.queue import QueuedEvent
from tests.factories import batch, nudged
from tests.ports import closed_port
from tests.queues import queues_purge

EVENTS = "/api/v0/events"
NUDGED = "org.openstax.ec.nudged_v1"
STARTED_SESSION = "org.openstax.ec.started_session_v1"
EXAMPLES = Path(django_settings.BASE_DIR) / "schemas/org/openstax/ec"
METRIC_NAMES = [
    "eventcapture_events_accepted_total",
    "eventcapture_events_rejected_total",
    "eventcapture_events_produced_total",
    "eventcapture_events_failed_total",
    "eventcapture_events_dead_lettered_total",
    "eventcapture_http_request_duration_seconds",
    "eventcapture_kafka_delivery_seconds",
    "eventcapture_producer_errors_total",
    "eventcapture_batches_delivered_total",
    "eventcapture_task_retries_total",
]


def value(name, **labels):
    """This process's sample ``name`` with exactly ``labels``; 0 when it was never counted."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def total(name, **labels):
    """The sum of this process's samples ``name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
    )


def post(body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return APIClient().post(EVENTS, data=raw, content_type="application/json")


def example(event):
    return json.loads((EXAMPLES / event / "v1" / "example.json").read_text())


def scrape(**headers):
    response = APIClient().get("/metrics", headers=headers)
    return response.status_code, response.get("Content-Type", ""), response.content.decode()


def parsed(text):
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wait_for(condition, *, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# --- /metrics ------------------------------------------------------------------------------------


def test_metrics_answers_in_the_prometheus_text_format_with_every_metric_named():
    status, content_type, body = scrape()
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    for name in METRIC_NAMES:
        kind = "histogram" if name.endswith("_seconds") else "counter"
        assert f"# TYPE {name} {kind}\n" in body, name
    # Parses as the text format, and no `_created` series (multiprocess mode has none either).
    assert parsed(body)
    assert "_created" not in body


def scrape_from(address, **headers):
    return APIClient(REMOTE_ADDR=address).get("/metrics", headers=headers).status_code


def test_without_a_token_metrics_answers_loopback_and_refuses_any_other_address_with_403(settings):
    settings.METRICS_TOKEN = ""
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        assert scrape_from(loopback) == 200, loopback
    response = APIClient(REMOTE_ADDR="203.0.113.7").get("/metrics")
    assert response.status_code == 403
    assert "eventcapture_" not in response.content.decode()
    for other in ("10.0.0.5", "192.168.1.10", "2001:db8::1", "not-an-address", ""):
        assert scrape_from(other) == 403, other


def test_metrics_allowed_networks_may_scrape_without_a_token(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16", "2001:db8::/32", "192.0.2.7"]
    for allowed in ("10.1.200.3", "2001:db8::1", "192.0.2.7", "::ffff:10.1.0.1"):
        assert scrape_from(allowed) == 200, allowed
    for refused in ("10.2.0.1", "192.0.2.8", "2001:db9::1"):
        assert scrape_from(refused) == 403, refused


def test_the_scrapers_address_is_judged_as_the_rate_limits_judge_it_behind_trusted_proxies(settings):
    settings.METRICS_TOKEN = ""
    settings.TRUSTED_PROXIES = ["10.9.0.1"]
    settings.METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    # Through the trusted proxy: the address it forwarded is the client's.
    assert scrape_from("10.9.0.1", X_Forwarded_For="203.0.113.7") == 403
    assert scrape_from("10.9.0.1", X_Forwarded_For="10.1.0.9") == 200
    # A proxy on this machine that forwards a public client is no loopback client.
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert scrape_from("127.0.0.1", X_Forwarded_For="203.0.113.7") == 403
    # An untrusted peer's claim is ignored.
    settings.TRUSTED_PROXIES = []
    assert scrape_from("203.0.113.7", X_Forwarded_For="127.0.0.1") == 403


def test_with_a_token_set_metrics_needs_it_from_everyone_and_answers_it_from_anywhere(settings):
    settings.METRICS_TOKEN = "metrics-s3cret"
    response = APIClient().get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "eventcapture_" not in response.content.decode()
    assert scrape(Authorization="Bearer wrong-token")[0] == 401
    assert scrape(Authorization="Basic metrics-s3cret")[0] == 401
    status, _, body = scrape(Authorization="Bearer metrics-s3cret")
    assert status == 200
    assert "eventcapture_events_accepted_total" in body
    assert scrape_from("203.0.113.7", Authorization="Bearer metrics-s3cret") == 200
    assert scrape_from("203.0.113.7") == 401


def test_a_metrics_allowed_network_that_is_no_network_stops_start_up():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}
    done = _python("import django; django.setup()", env=env)
    assert done.returncode != 0
    assert "ImproperlyConfigured: METRICS_ALLOWED_NETWORKS" in done.stderr
    assert "'intranet' is not one" in done.stderr


def test_metrics_only_answers_get_and_head():
    assert APIClient().post("/metrics").status_code == 405
    assert APIClient().head("/metrics").status_code == 200


def test_metrics_is_not_rate_limited(settings):
    settings.RATE_LIMIT_PER_IP = "1/min"
    assert [scrape()[0] for _ in range(3)] == [200, 200, 200]


# --- The HTTP edge -------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_a_queued_batch_moves_accepted_events_by_its_count_per_type_and_the_latency_histogram():
    latency = {"method": "POST", "route": "api/v0/events", "status": "202"}
    before_nudged = value("eventcapture_events_accepted_total", event_type=NUDGED)
    before_started = value("eventcapture_events_accepted_total", event_type=STARTED_SESSION)
    before_requests = value("eventcapture_http_request_duration_seconds_count", **latency)

    response = post(batch(nudged(), nudged(session_order=43), example("started_session")))

    assert response.status_code == 202, response.content
    assert value("eventcapture_events_accepted_total", event_type=NUDGED) == before_nudged + 2
    assert value("eventcapture_events_accepted_total", event_type=STARTED_SESSION) == before_started + 1
    assert value("eventcapture_http_request_duration_seconds_count", **latency) == before_requests + 1


@pytest.mark.usefixtures("catalogue")
def test_a_refused_batch_counts_each_error_by_code_and_known_event_type_and_accepts_nothing():
    before = {
        (code, event_type): value("eventcapture_events_rejected_total", code=code, event_type=event_type)
        for code, event_type in [("unknown_event_type", "unknown"), ("required", NUDGED), ("invalid_format", NUDGED)]
    }
    accepted = total("eventcapture_events_accepted_total")
    latency = {"method": "POST", "route": "api/v0/events", "status": "422"}
    before_requests = value("eventcapture_http_request_duration_seconds_count", **latency)

    response = post(
        batch(
            nudged(type="org.openstax.ec.no_such_v1"),
            nudged(session_uuid=...),
            nudged(client_clock_sent_at="yesterday"),
            nudged(),
        )
    )

    assert response.status_code == 422
    assert {
        key: value("eventcapture_events_rejected_total", code=key[0], event_type=key[1]) - count
        for key, count in before.items()
    } == {("unknown_event_type", "unknown"): 1, ("required", NUDGED): 1, ("invalid_format", NUDGED): 1}
    assert total("eventcapture_events_accepted_total") == accepted
    assert value("eventcapture_http_request_duration_seconds_count", **latency) == before_requests + 1


@pytest.mark.usefixtures("catalogue")
def test_an_event_type_a_client_made_up_never_becomes_a_label_value():
    assert post(batch(nudged(type="org.example.made_up_by_a_client_v9"))).status_code == 422
    assert post(batch({"type": "org.example.made_up_by_a_client_v9"})).status_code == 422
    _, _, body = scrape()
    assert "made_up_by_a_client" not in body
    assert 'eventcapture_events_rejected_total{code="unknown_event_type",event_type="unknown"}' in body


def test_request_level_refusals_count_once_under_their_code():
    codes = ["malformed_json", "malformed_request", "method_not_allowed"]
    before = {code: value("eventcapture_events_rejected_total", code=code, event_type="unknown") for code in codes}

    assert post("{not json").status_code == 400
    assert post({"events": "not a list"}).status_code == 400
    assert APIClient().get(EVENTS).status_code == 405

    after = {code: value("eventcapture_events_rejected_total", code=code, event_type="unknown") for code in codes}
    assert {code: after[code] - before[code] for code in codes} == dict.fromkeys(codes, 1)


def test_the_latency_histogram_is_labelled_by_url_pattern_never_by_raw_path():
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before_unmatched = value("eventcapture_http_request_duration_seconds_count", **unmatched)
    preflight = {"method": "OPTIONS", "route": "api/v0/events", "status": "200"}
    before_preflight = value("eventcapture_http_request_duration_seconds_count", **preflight)

    assert APIClient().get("/no/such/page-xyzzy").status_code == 404
    response = APIClient().options(
        EVENTS, headers={"Origin": "https://openstax.org", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 200
    APIClient().get("/schema-registry/subjects/raw-subject-xyzzy/versions")
    APIClient().generic("BREW", "/ping")

    assert value("eventcapture_http_request_duration_seconds_count", **unmatched) == before_unmatched + 1
    # A CORS preflight is answered by middleware before URL resolution, yet is labelled by its pattern.
    assert value("eventcapture_http_request_duration_seconds_count", **preflight) == before_preflight + 1
    assert total(
        "eventcapture_http_request_duration_seconds_count", route="schema-registry/subjects/<str:subject>/versions"
    )
    assert total("eventcapture_http_request_duration_seconds_count", method="other", route="ping")
    body = scrape()[2]
    assert "xyzzy" not in body
    assert "BREW" not in body


# --- Queue depth ---------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_queue_depth_is_the_number_of_batches_waiting_in_redis():
    queues_purge()
    try:
        for _ in range(3):
            assert post(batch(nudged())).status_code == 202
        samples = parsed(scrape()[2])
        assert samples[("eventcapture_queue_depth", (("queue", "deliver"),))] == 3
        assert samples[("eventcapture_queue_depth", (("queue", "celery"),))] == 0
    finally:
        queues_purge()
    assert parsed(scrape()[2])[("eventcapture_queue_depth", (("queue", "deliver"),))] == 0


@pytest.mark.usefixtures("unreachable_queue")
def test_a_scrape_still_answers_without_queue_depth_when_redis_is_down():
    status, _, body = scrape()
    assert status == 200
    assert "eventcapture_events_accepted_total" in body
    assert "eventcapture_queue_depth{" not in body


# --- The worker ----------------------------------------------------------------------------------


def test_the_worker_exporter_serves_the_metrics_over_http():
    metrics.events_dead_lettered(event_type=NUDGED, count=2)
    metrics.events_dead_lettered(event_type=None)
    port = closed_port()
    server = metrics.worker_exporter_start(host="127.0.0.1", port=port)
    try:
        response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200
    samples = parsed(response.text)
    dead = "eventcapture_events_dead_lettered_total"
    assert samples[(dead, (("event_type", NUDGED),))] == value(dead, event_type=NUDGED) >= 2
    assert samples[(dead, (("event_type", "unknown"),))] == value(dead, event_type="unknown") >= 1
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in response.text, name


def test_the_worker_exporter_is_off_on_port_0_and_a_taken_port_is_logged_not_fatal(settings, caplog):
    settings.WORKER_METRICS_PORT = 0
    assert metrics.worker_exporter_start_from_settings() is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings.WORKER_METRICS_HOST, settings.WORKER_METRICS_PORT = taken.getsockname()
        with caplog.at_level(logging.ERROR, logger="eventcapture.metrics"):
            assert metrics.worker_exporter_start_from_settings() is None
    assert "worker metrics are not served: cannot listen on" in caplog.text


@pytest.mark.integration
@pytest.mark.usefixtures("kafka_topics", "celery_worker_thread")
def test_a_delivered_event_moves_produced_batches_and_kafka_delivery_latency(live_server):
    produced = value("eventcapture_events_produced_total", event_type=NUDGED)
    batches = value("eventcapture_batches_delivered_total")
    deliveries = value("eventcapture_kafka_delivery_seconds_count")

    response = requests.post(f"{live_server.url}{EVENTS}", json=batch(nudged()), timeout=10)
    assert response.status_code == 202, response.text

    assert wait_for(lambda: value("eventcapture_events_produced_total", event_type=NUDGED) > produced)
    assert value("eventcapture_events_produced_total", event_type=NUDGED) == produced + 1
    assert value("eventcapture_batches_delivered_total") == batches + 1
    assert value("eventcapture_kafka_delivery_seconds_count") == deliveries + 1
    assert value("eventcapture_kafka_delivery_seconds_sum") > 0


@pytest.fixture
def kafka_unreachable(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"
    settings.KAFKA_DELIVERY_TIMEOUT = 1.0
    producer_reset()
    yield
    producer_reset()


IDENTITY = Identity(user_uuid=None, device_uuid=None, ip_address="203.0.113.9", user_agent="test")


@pytest.mark.usefixtures("catalogue", "kafka_unreachable")
def test_a_batch_kafka_does_not_acknowledge_counts_its_events_as_failed_and_the_producer_errors():
    prepared = batch_prepare(events=[nudged(), nudged()], identity=IDENTITY, received_at=datetime.now(UTC))
    failed = total("eventcapture_events_failed_total", event_type=NUDGED)
    errors = total("eventcapture_producer_errors_total")
    batches = value("eventcapture_batches_delivered_total")

    with pytest.raises(DeliveryFailed) as raised:
        batch_deliver(events=prepared.events)

    assert raised.value.reason in {"delivery_error", "delivery_timeout"}
    assert value("eventcapture_events_failed_total", event_type=NUDGED, reason=raised.value.reason) >= 2
    assert total("eventcapture_events_failed_total", event_type=NUDGED) == failed + 2
    assert total("eventcapture_producer_errors_total") > errors
    assert value("eventcapture_batches_delivered_total") == batches


@pytest.mark.integration
@pytest.mark.usefixtures("celery_worker_thread", "kafka_unreachable")
def test_a_batch_the_worker_cannot_deliver_is_retried_and_the_retry_counted():
    labels = {"task": "kafka_bridge.deliver_batch", "exception": "DeliveryFailed"}
    retries = value("eventcapture_task_retries_total", **labels)

    assert post(batch(nudged())).status_code == 202

    assert wait_for(lambda: value("eventcapture_task_retries_total", **labels) > retries)
    queues_purge()


# --- Several processes -------------------------------------------------------------------------

_RECORD = """
import os, sys
from eventcapture import metrics
assert metrics.MULTIPROCESS
metrics.events_accepted(counts={"org.openstax.ec.nudged_v1": int(sys.argv[1])})
metrics.request_observed(method="POST", route="api/v0/events", status=202, seconds=0.02)
metrics.process_exited(pid=os.getpid())
"""
_EXPOSE = """
from eventcapture import metrics
print(metrics.exposition(accept=None)[0].decode())
"""


def _python(code, *args, env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_in_multiprocess_mode_a_scrape_adds_up_what_every_process_counted(tmp_path):
    # The variable must be set before prometheus-client is imported: so in fresh processes.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in ("2", "3"):
        done = _python(_RECORD, count, env=env)
        assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    assert len(list(tmp_path.glob("histogram_*.db"))) == 2

    done = _python(_EXPOSE, env=env)

    assert done.returncode == 0, done.stderr
    samples = parsed(done.stdout)
    assert samples[("eventcapture_events_accepted_total", (("event_type", NUDGED),))] == 5
    latency = (("method", "POST"), ("route", "api/v0/events"), ("status", "202"))
    assert samples[("eventcapture_http_request_duration_seconds_count", latency)] == 2
    assert samples[("eventcapture_http_request_duration_seconds_sum", latency)] == pytest.approx(0.04)


def test_a_multiprocess_folder_that_does_not_exist_stops_start_up(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing"),
    }
    done = _python("import django; django.setup()", env=env)
    assert done.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR must be an existing folder" in done.stderr


@pytest.mark.usefixtures("catalogue")
def test_keeping_a_dead_letter_moves_the_dead_lettered_counter():
    from kafka_bridge.dead_letters import dead_letters_record
    from kafka_bridge.encoding import EncodingError
    from registry.models import SchemaRevision

    revision = SchemaRevision.objects.get(major__full_name="org.openstax.ec.nudged_v1")
    name = "eventcapture_events_dead_lettered_total"
    before = value(name, event_type="org.openstax.ec.nudged_v1")
    event = QueuedEvent("7c1e4b2a-0000-4000-8000-000000000001", revision.pk, "k", {})

    dead_letters_record(failures=[(event, EncodingError("does not fit"))])

    assert value(name, event_type="org.openstax.ec.nudged_v1") == before + 1
