"""Clients generated from the committed openapi.json by OpenAPI Generator work: a typescript-fetch
client that compiles with ``tsc --strict`` and a Python client, each sending to the live server one
batch holding one event of every catalogue event type, and one xAPI statement.

``scripts/clients generate`` makes both in one JVM run; the generator's jar (Maven Central) and
TypeScript (npm) are pinned in clients/ and fetched by ``make test-tools`` (``scripts/clients fetch``).
Each client runs in a process of its own, as its users would run it: node for the compiled
TypeScript, the virtualenv's Python (which has the Python client's dependencies) with only the
generated package added to its path.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.queues import queues_purge

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("committed_catalogue")]

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "schemas"
EVENT_EXAMPLES = sorted((CATALOGUE / "org/openstax/ec").glob("*/v*/example.json"))
STATEMENT_EXAMPLE = CATALOGUE / "org/adlnet/xapi/Statement/v1/example.json"
# Generation (a JVM), compilation and each client's requests: bounded, never waited on for ever.
GENERATE_TIMEOUT = 300
COMPILE_TIMEOUT = 180
CLIENT_TIMEOUT = 60


def _events() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in EVENT_EXAMPLES]


def _statement() -> dict[str, Any]:
    statement: dict[str, Any] = json.loads(STATEMENT_EXAMPLE.read_text())
    statement["id"] = str(uuid.uuid4())
    return statement


def _run(command: list[str], *, timeout: int, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    assert result.returncode == 0, f"{command[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both clients, generated from the committed openapi.json into a temporary folder."""
    out = tmp_path_factory.mktemp("clients")
    _run([str(ROOT / "scripts/clients"), "generate", str(out), str(ROOT / "openapi.json")], timeout=GENERATE_TIMEOUT)
    return out


def _normalized(value: Any) -> Any:
    """``value`` with its date-times as datetimes: a client writes them in its own RFC 3339 form."""
    if isinstance(value, dict):
        return {key: _normalized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)", value):
        return datetime.fromisoformat(value)
    return value


def _assert_sent_and_accepted(stdout: str, *, batch: dict[str, Any], statement: dict[str, Any]) -> None:
    """The driver prints, per request, the body the client sends, then the answer's status and body:
    the clients' models keep every field of the examples, and the server accepts both."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith(("{", "["))]
    assert len(lines) == 4, stdout
    sent_batch, events_answer, sent_statement, statements_answer = lines
    assert _normalized(sent_batch) == _normalized(batch)
    assert _normalized(sent_statement) == _normalized(statement)
    assert [events_answer["status"], statements_answer["status"]] == [202, 202], lines
    events = len(batch["events"])
    assert events_answer["accepted"] == events == len(events_answer["ids"])
    assert statements_answer["accepted"] == 1 == len(statements_answer["ids"])
    assert events_answer["warnings"] == statements_answer["warnings"] == []


TYPESCRIPT_DRIVER = """
import {{
  Configuration,
  EventsApi,
  EventBatchFromJSON,
  EventBatchToJSON,
  StatementBodyFromJSON,
  StatementBodyToJSON,
}} from "./typescript/index";
import type {{ AcceptedBatch, ApiResponse }} from "./typescript/index";

async function report(answer: Promise<ApiResponse<AcceptedBatch>>): Promise<void> {{
  const response = await answer;
  const body = await response.value();
  console.log(JSON.stringify({{ status: response.raw.status, ...body }}));
}}

async function main(): Promise<void> {{
  const api = new EventsApi(new Configuration({{ basePath: {base_url} }}));
  const eventBatch = EventBatchFromJSON({batch});
  console.log(JSON.stringify(EventBatchToJSON(eventBatch)));
  await report(api.eventsCreateRaw({{ eventBatch }}));
  const statementBody = StatementBodyFromJSON({statement});
  console.log(JSON.stringify(StatementBodyToJSON(statementBody)));
  await report(api.xapiStatementsCreateRaw({{ statementBody }}));
}}

main();
"""


def test_the_typescript_fetch_client_compiles_strictly_and_sends_every_event_type(live_server, clients):
    batch, statement = {"events": [{"data": event} for event in _events()]}, _statement()
    driver = clients / "send.ts"
    driver.write_text(
        TYPESCRIPT_DRIVER.format(
            base_url=json.dumps(live_server.url), batch=json.dumps(batch), statement=json.dumps(statement)
        )
    )
    tsc = ROOT / "clients/node_modules/.bin/tsc"
    assert tsc.exists(), "TypeScript is not installed: run `scripts/clients fetch` (`make test-tools` does)"
    _run(
        [
            str(tsc),
            "--strict",
            "--target",
            "es2020",
            "--module",
            "commonjs",
            "--lib",
            "es2020,dom",
            "--outDir",
            str(clients / "js"),
            str(driver),
        ],
        timeout=COMPILE_TIMEOUT,
    )
    sent = _run(["node", str(clients / "js/send.js")], timeout=CLIENT_TIMEOUT)
    queues_purge()
    _assert_sent_and_accepted(sent.stdout, batch=batch, statement=statement)


PYTHON_DRIVER = """
import json
import sys

import eventcapture_client as client

base_url, batch, statement = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
with client.ApiClient(client.Configuration(host=base_url)) as api_client:
    api = client.EventsApi(api_client)
    event_batch = client.EventBatch.from_dict(batch)
    print(json.dumps(api_client.sanitize_for_serialization(event_batch)))
    answer = api.events_create_with_http_info(event_batch)
    print(json.dumps({"status": answer.status_code, **api_client.sanitize_for_serialization(answer.data)}))
    statement_body = client.StatementBody.from_dict(statement)
    print(json.dumps(api_client.sanitize_for_serialization(statement_body)))
    answer = api.xapi_statements_create_with_http_info(statement_body)
    print(json.dumps({"status": answer.status_code, **api_client.sanitize_for_serialization(answer.data)}))
"""


def test_the_python_client_sends_every_event_type(live_server, clients):
    batch, statement = {"events": [{"data": event} for event in _events()]}, _statement()
    environment = {**os.environ, "PYTHONPATH": str(clients / "python")}
    sent = _run(
        [sys.executable, "-c", PYTHON_DRIVER, live_server.url, json.dumps(batch), json.dumps(statement)],
        timeout=CLIENT_TIMEOUT,
        env=environment,
    )
    queues_purge()
    _assert_sent_and_accepted(sent.stdout, batch=batch, statement=statement)
