"""tests/compose/: the compose stack built and run for real (`make compose-test`, scripts/compose-test),
never part of `make test`: it needs a Docker engine, the images of `make images-local` and minutes.
Its modules are collected only when EVENTCAPTURE_COMPOSE_TEST=1, which scripts/compose-test sets."""

from __future__ import annotations

import os

import pytest

collect_ignore_glob = [] if os.environ.get("EVENTCAPTURE_COMPOSE_TEST") == "1" else ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compose: runs docker/compose.yml for real (`make compose-test`)")
