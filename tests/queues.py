"""The real queues in Redis, as tests empty and read them."""

from __future__ import annotations

from typing import Any

import redis

from eventcapture.celery import app
from kafka_bridge.queue import DELIVER_QUEUE, QueuedEvent, queue_reset, task_read


def queues_purge() -> None:
    """Empty Celery's default queue and the delivery tasks' queue."""
    with app.connection_for_write() as connection:
        for queue in (str(app.conf.task_default_queue), DELIVER_QUEUE):
            connection.default_channel.queue_purge(queue)  # type: ignore[attr-defined]


def queued_events() -> list[QueuedEvent]:
    """Every event waiting in the delivery queue, oldest first (taken out of it)."""
    client = redis.Redis.from_url(str(app.conf.broker_url))
    events: list[QueuedEvent] = []
    try:
        while (raw := client.rpop(DELIVER_QUEUE)) is not None:
            assert isinstance(raw, bytes)
            events.extend(task_read(raw).events)
    finally:
        client.close()
    return events


def broker_point(url: str | None, write_url: str | None, transport_options: dict[str, Any] | None = None) -> None:
    """Point the Celery app, and the web's queue, at another broker (``transport_options`` too
    when given)."""
    options = {} if transport_options is None else {"broker_transport_options": transport_options}
    app.conf.update(broker_url=url, broker_write_url=write_url, **options)
    # Drop the connection and producer pools built for the old broker (private attributes: Celery
    # has no public way to re-point a configured app); new ones follow the new URL.
    setattr(app, "_pool", None)  # noqa: B010
    setattr(app.amqp, "_producer_pool", None)  # noqa: B010
    queue_reset()
