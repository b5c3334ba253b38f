"""kafka_bridge is split along the queue: the web puts batches in it, the worker takes them to Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules_loaded_by(code: str) -> list[str]:
    """The top-level packages loaded in a fresh interpreter (Django set up) after ``code``."""
    program = (
        "import sys, json, django\n"
        "django.setup()\n"
        f"{code}\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_accepting_and_queueing_a_batch_loads_no_kafka_client():
    loaded = modules_loaded_by(
        "from events.views import EventsView\n"
        "from events.services import events_accept\n"
        "from kafka_bridge.queue import batch_enqueue, replay_enqueue\n"
        "from eventcapture.celery import app\n"
        "app.send_task  # the tasks are sent by name\n"
    )

    assert "events" in loaded
    assert "kafka_bridge" in loaded
    assert "confluent_kafka" not in loaded


def test_the_worker_side_loads_the_kafka_client():
    # The check above could not fail if the client were never loaded at all.
    assert "confluent_kafka" in modules_loaded_by("import kafka_bridge.tasks")
