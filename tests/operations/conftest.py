from __future__ import annotations

from collections.abc import Iterator

import pytest

from operations.health import probes_reset


@pytest.fixture(autouse=True)
def _fresh_probes() -> Iterator[None]:
    """Each test's /ready probes afresh: a result of an earlier test is not reused."""
    probes_reset()
    yield
    probes_reset()
