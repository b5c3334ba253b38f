"""The hooks of eventcapture/gunicorn_conf.py, read by gunicorn's own loader (a hook it does not know
by name would be dropped without a word): each worker moves what it loaded out of the garbage
collector's reach, and the master drops a dead worker's live gauges."""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.app.base import Application
from gunicorn.config import Config

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "eventcapture" / "gunicorn_conf.py"


class _Loaded(Application):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's settings as the service's file sets them, loaded the way ``--config`` loads it."""

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        return None

    def load_config(self) -> None:
        self.load_config_from_file(str(GUNICORN_CONF))

    def load(self) -> None:
        raise AssertionError("not served")


def loaded() -> Config:
    return _Loaded().cfg


def test_each_worker_freezes_what_it_loaded_out_of_the_collectors_passes():
    cfg = loaded()
    assert cfg.post_worker_init is not Config().post_worker_init
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        cfg.post_worker_init(SimpleNamespace(pid=1))
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("multiprocess", [True, False])
def test_a_dead_workers_live_gauges_go_and_its_counts_stay(monkeypatch, tmp_path, multiprocess):
    cfg = loaded()
    if multiprocess:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    else:
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    files = ["gauge_livesum_4242.db", "gauge_liveall_4242.db", "counter_4242.db", "gauge_livesum_4343.db"]
    for name in files:
        (tmp_path / name).write_bytes(b"")

    cfg.child_exit(SimpleNamespace(), SimpleNamespace(pid=4242))

    left = sorted(path.name for path in tmp_path.iterdir())
    if multiprocess:
        assert left == ["counter_4242.db", "gauge_livesum_4343.db"]
    else:
        assert left == sorted(files)
