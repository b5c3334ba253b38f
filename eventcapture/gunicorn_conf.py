"""gunicorn settings of every way the service is served: ``make run`` (scripts/run), the image,
and the bench's bare-Django ceiling (``--config eventcapture/gunicorn_conf.py``).

Read by the gunicorn master, as a file: it must not import Django or the project.
"""

from __future__ import annotations

import os
from typing import Any

# Threads, so that the requests a process holds at once can be queued together (one task for
# several requests: kafka_bridge/queue.py); the measurements behind the choice are in
# docs/throughput.md. The number of processes is WEB_CONCURRENCY, which gunicorn reads itself.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))


def child_exit(server: Any, worker: Any) -> None:
    # Multiprocess metrics (eventcapture/metrics.py): a worker that ended leaves its counts in the
    # totals, but its live gauges must go. prometheus-client is imported only then, in the master,
    # which counts nothing itself.
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def post_worker_init(worker: Any) -> None:
    # Everything loaded so far (Django, the app) lives as long as the process: kept out of the
    # garbage collector's full passes, which otherwise scan it again and again under load (fewer
    # and shorter pauses: measured 5-9 % more requests a second and half the p99).
    import gc

    gc.freeze()
