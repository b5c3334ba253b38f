"""Group commit (kafka_bridge/queue.py): batches that arrive while a publish is in flight go
together in the next one; each request returns only once its own batch was published."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest
import redis

from eventcapture.celery import app
from eventcapture.exceptions import QueueUnavailable
from kafka_bridge.queue import (
    REQUEST_IDS_HEADER,
    BatchQueue,
    QueuedEvent,
    RequestSpan,
    TaskWriter,
    event_request_ids,
    request_ids_of,
    requests_read,
    task_read,
)
from tests.ports import closed_port


def events(count: int) -> list[QueuedEvent]:
    return [QueuedEvent(str(uuid.uuid4()), 1, "key", {"n": n}) for n in range(count)]


def ids(*batches: list[QueuedEvent]) -> set[str]:
    return {event.event_id for batch in batches for event in batch}


class Publisher:
    """Records each publish; the first one waits until ``release`` is set."""

    def __init__(self, *, fail: BaseException | None = None, fail_call: int | None = None) -> None:
        self.published: list[list[QueuedEvent]] = []
        self.requests: list[list[RequestSpan]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail
        self.fail_call = fail_call  # the one publish (counting from 0) that fails; None: all

    def __call__(self, batch: list[QueuedEvent], requests: list[RequestSpan]) -> None:
        call = len(self.published)
        self.published.append(batch)
        self.requests.append(requests)
        self.entered.set()
        if call == 0:
            assert self.release.wait(10)
        if self.fail is not None and self.fail_call in (None, call):
            raise self.fail


def put_in_thread(
    queue: BatchQueue, batch: list[QueuedEvent], outcomes: list[object], request_id: str | None = None
) -> threading.Thread:
    def put() -> None:
        try:
            queue.put(batch, request_id=request_id)
            outcomes.append("queued")
        except QueueUnavailable as exc:
            outcomes.append(exc)

    thread = threading.Thread(target=put)
    thread.start()
    return thread


def wait_until_waiting(queue: BatchQueue, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(queue._waiting) < count:  # the batches waiting for the publish in flight
        assert time.monotonic() < deadline, "the batches never started waiting"
        time.sleep(0.001)


def test_a_lone_batch_is_published_at_once_as_it_is():
    publisher = Publisher()
    publisher.release.set()
    batch = events(3)

    BatchQueue(publisher).put(batch)

    assert publisher.published == [batch]


def test_batches_that_arrive_during_a_publish_go_together_in_the_next_one():
    publisher = Publisher()
    queue = BatchQueue(publisher)
    first, second, third = events(1), events(2), events(1)
    outcomes: list[object] = []
    threads = [put_in_thread(queue, first, outcomes)]
    assert publisher.entered.wait(10)
    threads += [put_in_thread(queue, second, outcomes), put_in_thread(queue, third, outcomes)]
    wait_until_waiting(queue, 2)
    # Neither returned while their batches were not published.
    assert outcomes == []

    publisher.release.set()
    for thread in threads:
        thread.join(10)

    assert outcomes == ["queued"] * 3
    assert publisher.published[0] == first
    assert len(publisher.published) == 2
    assert ids(publisher.published[1]) == ids(second, third)


def test_a_grouped_publish_names_each_batchs_request_and_how_many_of_its_events_are_that_batch():
    publisher = Publisher()
    queue = BatchQueue(publisher)
    first, second, third = events(1), events(2), events(3)
    outcomes: list[object] = []
    threads = [put_in_thread(queue, first, outcomes, "req-1")]
    assert publisher.entered.wait(10)
    threads.append(put_in_thread(queue, second, outcomes, "req-2"))
    wait_until_waiting(queue, 1)
    threads.append(put_in_thread(queue, third, outcomes, None))
    wait_until_waiting(queue, 2)

    publisher.release.set()
    for thread in threads:
        thread.join(10)

    assert outcomes == ["queued"] * 3
    assert publisher.requests == [[("req-1", 1)], [("req-2", 2), (None, 3)]]
    assert publisher.published[1] == second + third


def test_the_request_of_an_event_is_found_from_the_spans_of_its_task():
    spans = [("a", 2), (None, 1), ("b", 3)]

    assert event_request_ids(spans, [0, 1, 2, 3, 5]) == ["a", "a", None, "b", "b"]
    assert event_request_ids(spans, [6]) == [None]
    assert event_request_ids([], [0]) == [None]
    assert request_ids_of([*spans, ("a", 1)]) == ["a", "b"]


def test_spans_are_read_as_the_web_writes_them_and_a_task_without_or_with_wrong_ones_has_no_request():
    assert requests_read([["a", 2], [None, 1]], events=3) == [("a", 2), (None, 1)]
    # Queued before requests were named, or not adding up to the task's events.
    assert requests_read(None, events=3) == [(None, 3)]
    assert requests_read([["a", 2]], events=3) == [(None, 3)]
    assert requests_read([["a", "2"]], events=2) == [(None, 2)]
    assert requests_read("a", events=1) == [(None, 1)]


def test_a_group_never_passes_the_most_events_a_task_may_carry():
    publisher = Publisher()
    queue = BatchQueue(publisher, max_events=4)
    outcomes: list[object] = []
    threads = [put_in_thread(queue, events(1), outcomes)]
    assert publisher.entered.wait(10)
    waiting = [events(3), events(3), events(1)]
    for batch in waiting:
        threads.append(put_in_thread(queue, batch, outcomes))
        wait_until_waiting(queue, len(threads) - 1)

    publisher.release.set()
    for thread in threads:
        thread.join(10)

    assert outcomes == ["queued"] * 4
    assert [len(batch) for batch in publisher.published] == [1, 3, 4]
    assert ids(*publisher.published[1:]) == ids(*waiting)


def test_when_a_publish_fails_every_batch_it_carried_is_refused_with_retry_after_and_the_next_one_goes():
    publisher = Publisher(fail=ConnectionError("redis is down"))
    queue = BatchQueue(publisher)
    outcomes: list[object] = []
    threads = [put_in_thread(queue, events(1), outcomes)]
    assert publisher.entered.wait(10)
    threads.append(put_in_thread(queue, events(1), outcomes))
    wait_until_waiting(queue, 1)

    publisher.release.set()
    for thread in threads:
        thread.join(10)

    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, QueueUnavailable)
        assert outcome.headers == {"Retry-After": "5"}
        assert isinstance(outcome.__cause__, ConnectionError)
    publisher.fail = None
    queue.put(events(1))
    assert len(publisher.published) == 3


def test_a_publish_stopped_by_the_process_ending_refuses_the_batches_it_carried_and_ends_its_thread():
    stopping = SystemExit(0)
    publisher = Publisher(fail=stopping, fail_call=1)
    queue = BatchQueue(publisher)
    outcomes: list[object] = []
    ended: list[BaseException] = []

    def put_catching_everything(batch: list[QueuedEvent]) -> None:
        try:
            queue.put(batch)
            outcomes.append("queued")
        except QueueUnavailable as exc:
            outcomes.append(exc)
        except BaseException as exc:
            ended.append(exc)

    threads = [threading.Thread(target=put_catching_everything, args=(events(1),))]
    threads[0].start()
    assert publisher.entered.wait(10)
    # Two batches wait for the publish in flight; the next publish carries both, and is stopped.
    for number in (1, 2):
        threads.append(threading.Thread(target=put_catching_everything, args=(events(1),)))
        threads[-1].start()
        wait_until_waiting(queue, number)
    publisher.release.set()
    for thread in threads:
        thread.join(10)

    assert ended == [stopping]
    # The first publish's batch is queued; of the two the stopped publish carried, the one whose
    # thread did not publish is refused.
    assert len(outcomes) == 2
    assert outcomes.count("queued") == 1
    assert sum(isinstance(outcome, QueueUnavailable) for outcome in outcomes) == 1


def test_a_queued_event_reads_the_arrays_tasks_carry_and_the_objects_earlier_versions_queued():
    record = {"n": 1}
    event_id = "7c1e4b2a-0000-4000-8000-000000000001"
    expected = QueuedEvent(event_id, 7, "key", record)

    assert QueuedEvent.from_task([event_id, 7, "key", record]) == expected
    assert QueuedEvent.from_task({"event_id": event_id, "schema_id": 7, "key": "key", "record": record}) == expected


def test_a_batch_whose_turn_does_not_come_in_time_is_refused_and_never_published():
    # The publish in flight is stuck (Redis frozen): the batch behind it gives up after its wait
    # with a 503, and no later publish carries it.
    publisher = Publisher()
    queue = BatchQueue(publisher, wait=0.2)
    outcomes: list[object] = []
    stuck = put_in_thread(queue, events(1), outcomes)
    assert publisher.entered.wait(10)
    late = events(2)
    started = time.monotonic()
    behind = put_in_thread(queue, late, outcomes)
    behind.join(10)

    assert 0.2 <= time.monotonic() - started < 5
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], QueueUnavailable)
    assert outcomes[0].headers == {"Retry-After": "5"}
    assert list(queue._waiting) == []

    publisher.release.set()
    stuck.join(10)
    queue.put(events(1))
    assert outcomes[1:] == ["queued"]
    assert len(publisher.published) == 2
    assert not ids(late) & ids(*publisher.published)


def test_a_batch_a_publish_already_carries_waits_for_it_past_its_own_wait():
    # Carried by the publish in flight, it is in the queue once that publish returns: it must not
    # answer 503 for a batch that was queued.
    class SlowSecond(Publisher):
        def __call__(self, batch: list[QueuedEvent], requests: list[RequestSpan]) -> None:
            super().__call__(batch, requests)
            if len(self.published) == 2:
                time.sleep(0.5)

    publisher = SlowSecond()
    queue = BatchQueue(publisher, wait=0.2)
    outcomes: list[object] = []
    threads = [put_in_thread(queue, events(1), outcomes)]
    assert publisher.entered.wait(10)
    threads += [put_in_thread(queue, events(1), outcomes), put_in_thread(queue, events(1), outcomes)]
    wait_until_waiting(queue, 2)
    publisher.release.set()
    for thread in threads:
        thread.join(10)

    # The second publish carried both waiting batches and took longer than their wait.
    assert [len(batch) for batch in publisher.published] == [1, 2]
    assert outcomes == ["queued"] * 3


# --- The task writer's connection (TaskWriter: one held connection, one LPUSH a publish) ----------


@pytest.fixture
def writer_and_reader() -> Iterator[tuple[TaskWriter, redis.Redis]]:
    """A task writer as the web's, and a client reading its queue (emptied before and after)."""
    url = str(app.conf.broker_write_url)
    writer = TaskWriter(url=url, transport_options=dict(app.conf.broker_transport_options or {}))
    reader = redis.Redis.from_url(url, socket_timeout=5)
    reader.delete(writer.key)
    try:
        yield writer, reader
    finally:
        writer.close()
        reader.delete(writer.key)
        reader.close()


@pytest.mark.integration
def test_the_writer_publishes_one_task_a_put_in_order_naming_its_requests(writer_and_reader):
    writer, reader = writer_and_reader
    for request in ("one", "two", "three"):
        writer.put(events(2), [(request, 2)])
    queued = [orjson.loads(raw) for raw in reversed(reader.lrange(writer.key, 0, -1))]
    assert [task["headers"][REQUEST_IDS_HEADER] for task in queued] == [[["one", 2]], [["two", 2]], [["three", 2]]]
    assert all(len(task_read(orjson.dumps(task)).events) == 2 for task in queued)


@pytest.mark.integration
def test_a_publish_after_redis_dropped_the_writers_connection_goes_through_on_a_new_one(writer_and_reader):
    # As after a Redis restart: the held connection is found broken on the next publish, which is
    # tried once more on a new connection rather than refused.
    writer, reader = writer_and_reader
    writer.put(events(1), [("before", 1)])
    writer_id = next(client["id"] for client in reader.client_list() if client["cmd"] == "lpush")
    assert reader.client_kill_filter(_id=writer_id) == 1
    writer.put(events(1), [("after", 1)])
    assert reader.llen(writer.key) == 2


@pytest.mark.integration
def test_a_publish_to_a_redis_that_is_gone_raises_and_the_next_one_reconnects(writer_and_reader):
    writer, reader = writer_and_reader
    writer.put(events(1), [("before", 1)])
    # The writer's connection pointed at a port nothing listens on, as a Redis that is down.
    writer._connection.disconnect()
    port = writer._connection.port
    writer._connection.port = closed_port()
    with pytest.raises(redis.ConnectionError):
        writer.put(events(1), [("lost", 1)])
    writer._connection.port = port
    writer.put(events(1), [("after", 1)])
    assert reader.llen(writer.key) == 2
