"""Every metric the alert rules (ops/prometheus/alerts.yml) and the dashboard
(ops/grafana/dashboard.json) read is in the first scrape of a fresh web (gunicorn as deployed,
multiprocess mode, through the real ``/metrics``) and of a fresh worker (``celery worker``, its
exporter), before anything was counted: the failure counters at zero for their known label values,
so that ``increase()`` and ``rate()`` see the first failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.queues import queues_purge
from tests.served import celery_worker, gunicorn_web, service_env
from tests.test_ops_pack import PROMETHEUS_OWN, _database_url, every_expr, selectors

WEB, WORKER = "eventcapture-web", "eventcapture-worker"
# The failure counters a fresh process holds at zero, by the job that counts them.
FAILURES = {
    WEB: ["eventcapture_events_rejected_total"],
    WORKER: [
        "eventcapture_events_failed_total",
        "eventcapture_events_dead_lettered_total",
        "eventcapture_producer_errors_total",
        "eventcapture_task_retries_total",
    ],
}


class Scrape:
    """One scrape: the families it declares, with their types, and its samples."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            names = {
                "counter": [f"{family.name}_total"],
                "histogram": [f"{family.name}_{s}" for s in ("bucket", "count", "sum")],
            }
            for name in names.get(family.type, [family.name]):
                self.types[name] = family.type
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    def present(self, name: str) -> bool:
        """A counter or histogram with a sample; a gauge read at scrape time (the pending dead
        letters: no series while there are none) declared."""
        return bool(self.samples.get(name)) or self.types.get(name) == "gauge"

    def value(self, name: str, **labels: str) -> float | None:
        for sample_labels, value in self.samples.get(name, []):
            if sample_labels == labels:
                return value
        return None


@pytest.mark.integration
def test_a_fresh_web_and_a_fresh_worker_export_every_metric_the_rules_and_the_dashboard_read(
    committed_catalogue: None, tmp_path: Path, settings: Any
) -> None:
    queues_purge()
    env = service_env(tmp_path=tmp_path, DATABASE_URL=_database_url(), KAFKA_TOPIC_PREFIX=settings.KAFKA_TOPIC_PREFIX)
    with gunicorn_web(env=env, tmp_path=tmp_path) as web, celery_worker(env=env, tmp_path=tmp_path) as worker:
        # From loopback, with no token (none is set): as a Prometheus on the same machine scrapes.
        scrapes = {
            WEB: Scrape(requests.get(f"{web}/metrics", timeout=10).text),
            WORKER: Scrape(requests.get(f"{worker}/metrics", timeout=10).text),
        }

    missing = []
    for expr in every_expr():
        for selector in selectors(expr):
            if selector.name in PROMETHEUS_OWN:
                continue
            for job in [selector.equal["job"]] if "job" in selector.equal else [WEB, WORKER]:
                if not scrapes[job].present(selector.name):
                    missing.append(f"{selector.name} from {job} ({expr})")
    assert missing == []

    for job, names in FAILURES.items():
        for name in names:
            values = [value for _, value in scrapes[job].samples[name]]
            assert values, f"{name} from {job}"
            assert set(values) == {0.0}, f"{name} from {job}: {values}"
    web_scrape, worker_scrape = scrapes[WEB], scrapes[WORKER]
    # The series the rules select by label, each at zero.
    assert (
        worker_scrape.value(
            "eventcapture_task_retries_total", task="kafka_bridge.deliver_batch", exception="DeliveryFailed"
        )
        == 0
    )
    for reason in ("delivery_error", "delivery_timeout", "produce_error", "record_refused"):
        assert worker_scrape.value("eventcapture_events_failed_total", event_type="unknown", reason=reason) == 0
    assert worker_scrape.value("eventcapture_producer_errors_total", error="_MSG_TIMED_OUT") == 0
    for status in ("202", "500", "503"):
        labels = {"method": "POST", "route": "api/v0/events", "status": status}
        assert web_scrape.value("eventcapture_http_request_duration_seconds_count", **labels) == 0, status
    assert web_scrape.value("eventcapture_events_rejected_total", code="invalid_events", event_type="unknown") == 0
    # Each process its own: the worker answers no request, the web delivers nothing.
    assert "eventcapture_events_rejected_total" not in worker_scrape.samples
    assert "eventcapture_events_failed_total" not in web_scrape.samples
