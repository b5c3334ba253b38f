"""kombu's Redis transport, with one fault mended: the worker must survive Redis going away.

When Redis goes away while the worker's consumer is waiting on it (BRPOP) and holds tasks it has
not acknowledged, Celery 5.7 first collects the broken connection (kombu detaches the transport
from it) and then closes it; closing puts the unacknowledged tasks back in the queue, which needs
the connection parameters the transport no longer has, and the ``AttributeError`` that follows is
no connection error, so it ends the worker ("Unrecoverable error"). Reproduced with Celery 5.7.0,
kombu 5.7.0 and redis-py 8.1, with both the thread and the prefork pool; drill (c) in
tests/drills/ is the case.

Here that step raises what it is, a lost connection, which kombu and Celery handle: the worker
reconnects. The tasks it could not put back stay in Redis's set of unacknowledged tasks, as when a
worker is killed, and are delivered again after the visibility timeout. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        if self._shared_client is None:
            self._shared_client = self._create_client()  # type: ignore[attr-defined]
        yield self._shared_client

    def _disconnect_pools(self) -> None:
        self._shared_client = None
        super()._disconnect_pools()  # type: ignore[misc]

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the connection to Redis was lost; it will be re-established")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
