"""The real queues in Redis, as tests empty and read them."""

from __future__ import annotations

from eventcapture.celery import app
from kafka_bridge.queue import DELIVER_QUEUE


def queues_purge() -> None:
    """Empty Celery's default queue and the delivery tasks' queue."""
    with app.connection_for_write() as connection:
        for queue in (str(app.conf.task_default_queue), DELIVER_QUEUE):
            connection.default_channel.queue_purge(queue)  # type: ignore[attr-defined]
