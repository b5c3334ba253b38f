"""Running the consumer examples of examples/consumers/ (Python, Node.js, JVM) as other teams would
run them, for the tests that read the topics through them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

EXAMPLES = Path(settings.BASE_DIR) / "examples" / "consumers"
# Seconds without a new record after which an example stops; the JVM's start and each client's group
# join come before the first record, so the whole run stays well under a minute.
IDLE_SECONDS = 10
RUN_TIMEOUT = 120
KAFKA_TIMEOUT = 30


def example_commands() -> dict[str, list[str]]:
    jvm = EXAMPLES / "jvm"
    return {
        "python": [sys.executable, str(EXAMPLES / "python" / "consume.py")],
        "node": ["node", str(EXAMPLES / "node" / "consume.js")],
        "jvm": [
            "java",
            "-cp",
            f"{jvm / 'target' / 'classes'}{os.pathsep}{jvm / 'target' / 'dependency' / '*'}",
            "org.openstax.eventcapture.examples.Consume",
        ],
    }


def run_example(command: list[str], *, registry_url: str, group_id: str, **options: str) -> subprocess.Popen[str]:
    arguments = ["--bootstrap-servers", settings.KAFKA_BOOTSTRAP_SERVERS, "--registry-url", registry_url]
    arguments += ["--group-id", group_id, "--timeout", str(IDLE_SECONDS)]
    for name, value in options.items():
        arguments += [f"--{name.replace('_', '-')}", value]
    return subprocess.Popen([*command, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_example(name: str, process: subprocess.Popen[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The JSON lines an example printed, and its closing summary; it must have exited 0."""
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    assert process.returncode == 0, f"{name} exited {process.returncode}: {stderr}"
    return [json.loads(line) for line in stdout.splitlines()], json.loads(stderr.strip().splitlines()[-1])
