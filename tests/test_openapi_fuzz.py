"""Schemathesis against the live server: requests generated from the document the server serves at
/api/v0/swagger, valid ones and invalid ones, to every documented operation. No answer may be a
5xx, and every answer must be one the document describes (status, content type, headers, body).

Bounded and deterministic: at most ``MAX_EXAMPLES`` requests per operation and generation mode,
derandomized (the same requests on every run). The cases come from schemathesis's Hypothesis
strategies (``APIOperation.as_strategy``) rather than ``schemathesis.pytest.from_fixture``, whose
lazy loader does not run under pytest 9.2 (it reads ``request.node._nodeid``, which pytest 9.2
no longer has).
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode

from tests.fuzzing import CHECKS, SETTINGS

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("committed_catalogue")]

MAX_EXAMPLES = 30
FUZZED = [
    ("POST", "/api/v0/events", GenerationMode.POSITIVE),
    ("POST", "/api/v0/events", GenerationMode.NEGATIVE),
    ("POST", "/api/v0/xapi/statements", GenerationMode.POSITIVE),
    ("POST", "/api/v0/xapi/statements", GenerationMode.NEGATIVE),
    # No parameters and no body: nothing to make invalid.
    ("GET", "/api/v0/info", GenerationMode.POSITIVE),
]


def served_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v0/swagger")


def test_every_documented_operation_is_fuzzed(live_server):
    documented = {
        (operation.ok().method.upper(), operation.ok().path)
        for operation in served_schema(live_server).get_all_operations()
    }
    assert documented == {(method, path) for method, path, _ in FUZZED}


@pytest.mark.parametrize(("method", "path", "mode"), FUZZED, ids=[f"{m} {p} {g.value}" for m, p, g in FUZZED])
def test_the_api_answers_generated_requests_as_documented(live_server, method, path, mode):
    operation = served_schema(live_server)[path][method]

    @hypothesis.settings(SETTINGS, max_examples=MAX_EXAMPLES)
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case):
        case.call_and_validate(base_url=live_server.url, checks=CHECKS)

    answers_as_documented()
