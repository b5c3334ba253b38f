"""gunicorn settings `make run` adds to its command line (``--config eventcapture/gunicorn_conf.py``).

Read by the gunicorn master, as a file: it must not import Django or the project.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    # Multiprocess metrics (eventcapture/metrics.py): a worker that ended leaves its counts in the
    # totals, but its live gauges must go. prometheus-client is imported only then, in the master,
    # which counts nothing itself.
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
