"""The operations pack (ops/): the alert rules, the example scrape configuration and the Grafana
dashboard hold together, and every metric their PromQL reads is one the service exports, from the
job that exports it: the web's /metrics (served by the live server, with the bearer token as
prometheus.yml sends it) and a real worker's exporter (``celery -A eventcapture worker`` in a
process of its own), scraped after an event went through both. promtool (``make test-tools``
builds it) checks the rules and the configuration, and runs the rules' unit tests
(tests/ops/alerts_test.yml)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import requests
import yaml
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from eventcapture.celery import app
from kafka_bridge.models import DeadLetter
from registry.models import SchemaRevision
from tests.factories import batch, nudged
from tests.ports import closed_port
from tests.queues import queues_purge

ROOT = Path(__file__).resolve().parents[1]
OPS = ROOT / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
SCRAPE_CONFIG = OPS / "prometheus" / "prometheus.yml"
DASHBOARD = OPS / "grafana" / "dashboard.json"
ALERT_TESTS = ROOT / "tests" / "ops" / "alerts_test.yml"
PROMTOOL = Path(os.environ.get("STACK_DIR") or ROOT / ".stack").resolve() / "tools" / "promtool" / "promtool"
NUDGED = "org.openstax.ec.nudged_v1"
# Series Prometheus makes itself for every target, not the service.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Grafana's interval variables, as Grafana would put them in before the query reaches Prometheus.
GRAFANA_INTERVALS = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "6h"}


# --- Reading PromQL --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """One series selector of an expression: the metric name and the label matchers with ``=``."""

    name: str
    equal: dict[str, str] = field(default_factory=dict)
    labels: frozenset[str] = frozenset()


def selectors(expr: str) -> list[Selector]:
    """Every series selector in ``expr``, read by Prometheus's grammar (promql-parser): functions,
    aggregations, operators, subqueries, durations and strings are not metric names. A selector
    without a name (``{job="x"}``) takes its ``__name__`` matcher's; one with neither is refused."""
    found: list[Selector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            equal = {m.name: m.value for m in matchers if m.op == promql_parser.MatchOp.Equal}
            name = node.name or equal.pop("__name__", None)
            if not name:
                raise ValueError(f"a selector without a metric name in {expr!r}")
            equal.pop("__name__", None)
            found.append(Selector(name, equal, frozenset(m.name for m in matchers if m.name != "__name__")))
        elif isinstance(node, promql_parser.MatrixSelector):
            visit(node.vector_selector)
        elif isinstance(node, promql_parser.Call):
            for arg in node.args:
                visit(arg)
        elif isinstance(node, promql_parser.AggregateExpr):
            visit(node.expr)
            if node.param is not None:
                visit(node.param)
        elif isinstance(node, promql_parser.BinaryExpr):
            visit(node.lhs)
            visit(node.rhs)
        elif isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr):
            visit(node.expr)
        elif not isinstance(node, promql_parser.NumberLiteral | promql_parser.StringLiteral):
            raise TypeError(f"an expression node this reader does not know: {type(node).__name__}")

    visit(promql_parser.parse(expr))
    return found


def metric_names(expr: str) -> set[str]:
    return {selector.name for selector in selectors(expr)}


def grafana_expr(expr: str) -> str:
    for variable, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(variable, value)
    return expr


def test_the_reader_finds_metric_names_and_nothing_else():
    assert metric_names(
        'histogram_quantile(0.99, sum by (le) (rate(http_seconds_bucket{job="web", route=~"api.*"}[5m])))'
    ) == {"http_seconds_bucket"}
    assert metric_names("sum(max by (event_type) (pending)) or vector(0)") == {"pending"}
    assert metric_names('a_total / on (instance) group_left (version) b_info{job="w"} offset 5m > bool 0') == {
        "a_total",
        "b_info",
    }
    assert metric_names("deriv(max(depth)[10m:1m]) > 0 and max(depth) > 100") == {"depth"}
    assert metric_names('absent(up{job="worker"})') == {"up"}
    assert metric_names('{__name__="by_name", job="x"}') == {"by_name"}
    # Label values, strings and keywords are not names; a metric may be named like a keyword.
    assert metric_names('count_values("sum", rate(rate_total{code="sum_total"}[1h])) unless on() bool_gauge') == {
        "rate_total",
        "bool_gauge",
    }
    assert metric_names("-(time() - 3)") == set()


def test_the_reader_keeps_each_selectors_equality_matchers_and_label_names():
    (selector,) = selectors('rate(x_total{job="eventcapture-web", status=~"5..", status!="503"}[5m])')
    assert selector == Selector("x_total", {"job": "eventcapture-web"}, frozenset({"job", "status"}))


def test_the_reader_refuses_what_is_not_promql():
    with pytest.raises(ValueError, match="unclosed left parenthesis"):
        selectors("rate(x_total[5m]")
    with pytest.raises(ValueError, match=r"\S"):  # Grafana's variables are not PromQL
        selectors("sum(rate(x_total[$__rate_interval]))")
    assert metric_names(grafana_expr("sum(rate(x_total[$__rate_interval]))")) == {"x_total"}


# --- The files -------------------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def scrape_jobs() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(SCRAPE_CONFIG.read_text())
    return {job["job_name"]: job for job in document["scrape_configs"]}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return panels


def dashboard_exprs() -> list[str]:
    return [grafana_expr(target["expr"]) for panel in dashboard_panels() for target in panel.get("targets", [])]


def every_expr() -> list[str]:
    return [rule["expr"] for rule in alert_rules()] + dashboard_exprs()


def test_the_alert_rules_are_groups_of_alerts_each_with_a_duration_a_severity_and_what_to_do():
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    groups = document["groups"]
    assert len({group["name"] for group in groups}) == len(groups)
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(set(names)) == len(names) >= 10
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"EventCapture[A-Z][A-Za-z0-9]+", rule["alert"])
        assert metric_names(rule["expr"]), rule["alert"]
        assert promql_parser.parse_duration(rule["for"]).total_seconds() > 0, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        assert "ops/README.md" in rule["annotations"]["description"], rule["alert"]


def test_the_rules_cover_delivery_dead_letters_http_errors_and_the_worker():
    used = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    assert {
        "eventcapture_oldest_batch_age_seconds",
        "eventcapture_queue_depth",
        "eventcapture_dead_letters_pending",
        "eventcapture_http_request_duration_seconds_count",
        "up",
    } <= used
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    # The threshold is the one the worker logs its stall report after, by default.
    assert f"> {int(django_settings.KAFKA_OUTAGE_ALERT_SECONDS)}" in by_name["EventCaptureBatchesUndelivered"]["expr"]
    assert 'status="503"' in by_name["EventCaptureQueueUnavailable"]["expr"]
    assert 'status!="503"' in by_name["EventCaptureHTTPErrors"]["expr"]


def test_the_rules_and_the_dashboard_name_the_jobs_of_the_scrape_configuration():
    jobs = scrape_jobs()
    assert set(jobs) == {"eventcapture-web", "eventcapture-worker"}
    named = {selector.equal["job"] for expr in every_expr() for selector in selectors(expr) if "job" in selector.equal}
    assert named == set(jobs)
    assert jobs["eventcapture-web"]["metrics_path"] == "/metrics"
    assert jobs["eventcapture-web"]["authorization"]["type"] == "Bearer"
    assert jobs["eventcapture-worker"]["static_configs"][0]["targets"] == [
        f"{django_settings.WORKER_METRICS_HOST}:{django_settings.WORKER_METRICS_PORT}"
    ]
    assert yaml.safe_load(SCRAPE_CONFIG.read_text())["rule_files"] == [ALERTS.name]


def test_the_dashboard_is_grafana_json_on_a_prometheus_variable_with_unique_panel_ids():
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"] == "eventcapture"
    assert board["title"]
    (variable,) = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(set(ids)) == len(ids)
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["title"], panel["id"]
        assert panel["description"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert metric_names(grafana_expr(target["expr"])), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_the_dashboard_shows_what_an_operator_reads_first():
    used = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    assert {
        "eventcapture_events_accepted_total",
        "eventcapture_http_request_duration_seconds_count",
        "eventcapture_http_request_duration_seconds_bucket",
        "eventcapture_queue_depth",
        "eventcapture_oldest_batch_age_seconds",
        "eventcapture_kafka_delivery_seconds_bucket",
        "eventcapture_events_produced_total",
        "eventcapture_dead_letters_pending",
        "up",
    } <= used
    quantiles = [expr for expr in dashboard_exprs() if expr.startswith("histogram_quantile(")]
    assert {name for expr in quantiles for name in metric_names(expr)} == {
        "eventcapture_http_request_duration_seconds_bucket",
        "eventcapture_kafka_delivery_seconds_bucket",
    }


# --- promtool --------------------------------------------------------------------------------------


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL.exists(), f"promtool is not at {PROMTOOL}: run `make promtool` (`make test-tools` does)"
    return subprocess.run([str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


# promtool is built by `make test-tools`, which `make test` runs and `make test-unit` does not.
@pytest.mark.integration
def test_promtool_finds_the_rules_and_the_scrape_configuration_valid():
    rules = promtool("check", "rules", str(ALERTS))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in rules.stdout
    # The token file of the example is the operator's: only the syntax is checked here.
    config = promtool("check", "config", "--syntax-only", str(SCRAPE_CONFIG))
    assert config.returncode == 0, config.stdout + config.stderr


@pytest.mark.integration
def test_each_alert_fires_when_and_only_when_its_unit_tests_say(tmp_path):
    # The annotations' text is for people (and its templates are checked above); the unit tests
    # check when each alert fires and its labels, so they run on the rules without annotations.
    document = yaml.safe_load(ALERTS.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            del rule["annotations"]
    (tmp_path / ALERTS.name).write_text(yaml.safe_dump(document))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    }
    assert tested == {rule["alert"] for rule in alert_rules()}

    run = promtool("test", "rules", ALERT_TESTS.name, cwd=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


# --- Against what the service exports -------------------------------------------------------------


def exported(text: str) -> tuple[set[str], dict[str, set[str]]]:
    """The series names a scrape body declares (a counter's ``_total``, a histogram's ``_bucket``,
    ``_sum`` and ``_count``, a gauge's own name, whether or not it has samples yet), and the label
    names of each name's samples."""
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        else:
            names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return names, labels


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    from urllib.parse import quote

    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{db.get('HOST') or ''}{port}/{quote(db['NAME'], safe='')}"


@pytest.fixture
def worker_process(kafka_topics: None, tmp_path: Path, settings: Any) -> Iterator[str]:
    """``celery -A eventcapture worker`` as the service runs it, on the test database, this run's
    topics and the tests' Redis, its exporter on a free port; yields the exporter's URL."""
    queues_purge()
    port = closed_port()
    env = {
        **{name: value for name, value in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"},
        "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": str(app.conf.broker_url),
        "KAFKA_BOOTSTRAP_SERVERS": settings.KAFKA_BOOTSTRAP_SERVERS,
        "KAFKA_TOPIC_PREFIX": settings.KAFKA_TOPIC_PREFIX,
        "SCHEMA_REGISTRY_URL": "",
        "WORKER_METRICS_HOST": "127.0.0.1",
        "WORKER_METRICS_PORT": str(port),
    }
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "eventcapture", "worker", "--loglevel", "INFO"]
    command += ["--hostname", f"ops-pack-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"the worker exited:\n{log_path.read_text()[-3000:]}"
            with suppress(requests.RequestException):
                if requests.get(f"{url}/metrics", timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"the worker's exporter never answered:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        queues_purge()


def wait_for_sample(url: str, name: str, labels: dict[str, str], *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for family in text_string_to_metric_families(requests.get(url, timeout=5).text):
            if any(s.name == name and s.labels == labels and s.value >= 1 for s in family.samples):
                return
        time.sleep(0.3)
    pytest.fail(f"{name}{labels} never reached 1 at {url}")


@pytest.mark.integration
def test_every_metric_the_rules_and_the_dashboard_read_is_exported_by_the_job_they_read_it_from(
    worker_process, live_server, settings
):
    settings.METRICS_TOKEN = "ops-pack-token"
    auth = scrape_jobs()["eventcapture-web"]["authorization"]
    web_metrics = f"{live_server.url}/metrics"
    worker_metrics = f"{worker_process}/metrics"
    # A pending dead letter, as a worker keeps one (here written directly: the test's process is the
    # web's, which never counts dead letters).
    now = timezone.now()
    revision = SchemaRevision.objects.get(major__full_name=NUDGED)
    DeadLetter.objects.create(
        event_id=uuid.uuid4(),
        event_type=NUDGED,
        schema_id=revision.pk,
        key="k",
        record={},
        reason="EncodingError: no fit",
        first_seen=now,
        last_seen=now,
    )

    token = {"Authorization": f"{auth['type']} {settings.METRICS_TOKEN}"}
    web_before = samples(requests.get(web_metrics, headers=token, timeout=10).text)

    accepted = requests.post(f"{live_server.url}/api/v0/events", json=batch(nudged()), timeout=10)
    assert accepted.status_code == 202, accepted.text
    refused = requests.post(f"{live_server.url}/api/v0/events", json=batch(nudged(session_uuid=...)), timeout=10)
    assert refused.status_code == 422, refused.text
    wait_for_sample(worker_metrics, "eventcapture_events_produced_total", {"event_type": NUDGED})

    assert requests.get(web_metrics, timeout=10).status_code == 401
    web_body = requests.get(web_metrics, headers=token, timeout=10)
    assert web_body.status_code == 200
    web, web_labels = exported(web_body.text)
    # The web's scrape is this test process's, which earlier tests may have made count worker
    # metrics too; what moved during this test is what the web itself counts.
    web_after = samples(web_body.text)
    web_counted = {name for (name, labels), value in web_after.items() if web_before.get((name, labels)) != value}
    worker, worker_labels = exported(requests.get(worker_metrics, timeout=10).text)
    by_job = {"eventcapture-web": (web, web_labels), "eventcapture-worker": (worker, worker_labels)}

    # What the event left behind: labelled series in the process that counts each.
    assert {"event_type"} <= web_labels["eventcapture_events_accepted_total"]
    assert {"code", "event_type"} <= web_labels["eventcapture_events_rejected_total"]
    assert {"method", "route", "status", "le"} <= web_labels["eventcapture_http_request_duration_seconds_bucket"]
    assert {"event_type"} <= worker_labels["eventcapture_events_produced_total"]
    assert "eventcapture_kafka_delivery_seconds_bucket" in worker_labels
    for labels in (web_labels, worker_labels):
        assert labels["eventcapture_oldest_batch_age_seconds"] == {"state"}
        assert labels["eventcapture_queue_depth"] == {"queue"}
        assert labels["eventcapture_dead_letters_pending"] == {"event_type"}
    # The worker's process answers no request: a web metric read from the worker's job would be missed.
    assert "eventcapture_events_accepted_total" not in worker_labels

    # Every process declares every metric (one module defines them); the one that counts it is the
    # job to read it from: the worker (a fresh process) has samples of what it counts, the web
    # moved what it counts during this test. (A worker metric read from the web's job is caught
    # unless earlier tests of the run made this process count it too: a run of this file alone
    # always catches it.)
    counted_by = {"eventcapture-web": web_counted, "eventcapture-worker": set(worker_labels)}
    missing = []
    for expr in every_expr():
        for selector in selectors(expr):
            if selector.name in PROMETHEUS_OWN:
                assert selector.equal.get("job") in by_job, expr
                continue
            jobs = [selector.equal["job"]] if "job" in selector.equal else list(by_job)
            for job in jobs:
                names, labels = by_job[job]
                if selector.name not in names:
                    missing.append(f"{selector.name} (from {job}) in {expr}")
                elif selector.name not in labels and any(
                    selector.name in counted for other, counted in counted_by.items() if other != job
                ):
                    missing.append(f"{selector.name} (counted by another job than {job}) in {expr}")
                elif selector.name in labels and not selector.labels - {"job", "instance"} <= labels[selector.name]:
                    missing.append(f"labels {sorted(selector.labels)} of {selector.name} (from {job}) in {expr}")
    assert missing == []
