"""Schemathesis against the live server's schema-registry API, from the document it serves at
/schema-registry/openapi.json:

- a stateful run: sequences of calls that follow the document's links (a subject's versions, a
  version, its schema by id, a look-up, a compatibility check and a register with that schema,
  the levels), each step's answer feeding the next, as a registrar who may write;
- every operation on its own, with valid and invalid requests.

No answer may be a 5xx, and every answer must be one the document describes. Bounded and
deterministic (derandomized, a fixed number of examples and steps).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode

from tests.fuzzing import CHECKS, SETTINGS

logger = logging.getLogger(__name__)
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("committed_catalogue")]

PASSWORD = "s3cret-pass"


@pytest.fixture
def writer(settings) -> tuple[str, str]:
    """A superuser's Basic credentials: every write of the API is allowed (and so reached)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_user_model().objects.create_superuser("fuzz-root", password=PASSWORD)
    return ("fuzz-root", PASSWORD)


def served_schema(live_server: Any) -> Any:
    return schemathesis.openapi.from_url(f"{live_server.url}/schema-registry/openapi.json")


def test_a_stateful_run_following_the_links_gets_no_5xx_and_only_documented_answers(live_server, writer):
    schema = served_schema(live_server)
    # Valid requests, so that the chains reach state; the invalid ones are the next test's.
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    answered: Counter[tuple[str, int]] = Counter()

    class RegistryWorkflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": live_server.url, "auth": writer}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            answered[(case.operation.label, response.status_code)] += 1

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    run_state_machine_as_test(
        RegistryWorkflow, settings=hypothesis.settings(SETTINGS, max_examples=300, stateful_step_count=10)
    )

    for (label, status), count in sorted(answered.items()):
        logger.info("stateful: %s -> %d: %d", label, status, count)
    # The links were followed to answers that hold state, not only to refusals. These operations
    # answer 200 only to what an earlier answer gave them (a version number, a schema id, a
    # version's own schema): random requests do not find them. Which links a run follows varies
    # (schemathesis draws some choices outside Hypothesis's seed), so the check is on their sum.
    log = "\n".join(f"{label} -> {status}: {count}" for (label, status), count in sorted(answered.items()))
    through_links = {
        "GET /schema-registry/subjects/{subject}/versions/{version}",
        "GET /schema-registry/subjects/{subject}/versions/{version}/schema",
        *(
            f"GET /schema-registry/schemas/ids/{{schema_id}}{tail}"
            for tail in ("", "/schema", "/versions", "/subjects")
        ),
        "POST /schema-registry/subjects/{subject}",
        "POST /schema-registry/compatibility/subjects/{subject}/versions/{version}",
    }
    linked = {label: count for (label, status), count in answered.items() if status == 200 and label in through_links}
    assert sum(linked.values()) >= 10, f"too few answers through links:\n{log}"
    assert len(linked) >= 2, f"answers through one kind of link only:\n{log}"


OPERATIONS = [
    (method, path)
    for path, methods in {
        "/schema-registry/subjects": ["GET"],
        "/schema-registry/subjects/{subject}": ["POST", "DELETE"],
        "/schema-registry/subjects/{subject}/versions": ["GET", "POST"],
        "/schema-registry/subjects/{subject}/versions/{version}": ["GET", "DELETE"],
        "/schema-registry/subjects/{subject}/versions/{version}/schema": ["GET"],
        "/schema-registry/schemas/types": ["GET"],
        "/schema-registry/schemas/ids/{schema_id}": ["GET"],
        "/schema-registry/schemas/ids/{schema_id}/schema": ["GET"],
        "/schema-registry/schemas/ids/{schema_id}/versions": ["GET"],
        "/schema-registry/schemas/ids/{schema_id}/subjects": ["GET"],
        "/schema-registry/compatibility/subjects/{subject}/versions": ["POST"],
        "/schema-registry/compatibility/subjects/{subject}/versions/{version}": ["POST"],
        "/schema-registry/config": ["GET", "PUT", "DELETE"],
        "/schema-registry/config/{subject}": ["GET", "PUT", "DELETE"],
    }.items()
    for method in methods
]


def test_every_documented_operation_is_fuzzed(live_server):
    documented = {(o.ok().method.upper(), o.ok().path) for o in served_schema(live_server).get_all_operations()}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_each_operation_answers_valid_and_invalid_requests_as_documented(live_server, writer, method, path):
    operation = served_schema(live_server)[path][method]
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE
    )

    @hypothesis.settings(SETTINGS, max_examples=25)
    @hypothesis.given(case=strategy)
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate(base_url=live_server.url, auth=writer, checks=CHECKS)

    answers_as_documented()
