"""The worker's intake (kafka_bridge/intake.py) against the real Redis: it takes the tasks the web
queued, keeps them where kombu keeps unacknowledged tasks, and kombu gives back what a dead worker
held; pause, resume and a stop that gives back what was not delivered."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis
from backports import zstd

from eventcapture.celery import TASK_BODY_SERIALIZER, app, task_body_dumps
from eventcapture.logs import request_id_bound
from kafka_bridge.intake import Intake, IntakeQueue
from kafka_bridge.producer import producer_reset
from kafka_bridge.queue import (
    DELIVER_QUEUE,
    DELIVER_TASK,
    REPLAY_TASK,
    NotADeliveryTask,
    QueuedEvent,
    batch_enqueue,
    task_read,
)
from tests.factories import nudged_record
from tests.ports import closed_port
from tests.queues import queues_purge

pytestmark = pytest.mark.integration


def events(count: int, *, schema_id: int = 1) -> list[QueuedEvent]:
    return [QueuedEvent(f"00000000-0000-4000-8000-{n:012d}", schema_id, "key", {"n": n}) for n in range(count)]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    queues_purge()
    client = redis.Redis.from_url(str(app.conf.broker_url))
    client.delete("unacked", "unacked_index")
    yield client
    queues_purge()
    client.delete("unacked", "unacked_index")
    client.close()


@pytest.fixture
def intake_queue(broker: redis.Redis) -> IntakeQueue:
    return IntakeQueue(url=str(app.conf.broker_url), transport_options=dict(app.conf.broker_transport_options))


def test_it_takes_the_queued_tasks_in_one_step_and_keeps_each_where_kombu_keeps_unacknowledged_tasks(
    broker, intake_queue
):
    for size in (1, 2, 3):
        batch_enqueue(events=events(size))

    taken = intake_queue.take(10)

    assert broker.llen(DELIVER_QUEUE) == 0
    assert [len(task_read(raw).events) for _, raw in taken] == [1, 2, 3]  # oldest first
    kept = broker.hgetall("unacked")
    assert set(kept) == {tag.encode() for tag, _ in taken}
    for tag, raw in taken:
        message, exchange, routing_key = orjson.loads(kept[tag.encode()])
        assert message == orjson.loads(raw)
        assert message["properties"]["delivery_tag"] == tag
        assert (exchange, routing_key) == ("", DELIVER_QUEUE)
        assert abs(broker.zscore("unacked_index", tag) - time.time()) < 5

    intake_queue.ack([tag for tag, _ in taken])

    assert broker.hlen("unacked") == 0
    assert broker.zcard("unacked_index") == 0


def test_a_task_decodes_to_the_events_the_web_queued():
    queued = events(2)
    batch_enqueue(events=queued)
    client = redis.Redis.from_url(str(app.conf.broker_url))
    try:
        raw = client.rpop(DELIVER_QUEUE)
    finally:
        client.close()
    assert isinstance(raw, bytes)

    decoded, queued_at, retries, _requests = task_read(raw)

    assert decoded == queued
    assert queued_at is not None
    assert abs(queued_at - time.time()) < 5
    assert retries == 0


def test_tasks_queued_before_bodies_were_compressed_still_decode():
    # Earlier versions wrote the body as JSON text: a worker upgraded before the queue is empty
    # delivers what they queued.
    queued = events(2)
    raw = orjson.dumps(
        {
            "properties": {"delivery_tag": "t"},
            "headers": {"task": DELIVER_TASK, "retries": 1},
            "content-type": "application/x-orjson",
            "body": task_body_dumps([[queued], {"queued_at": 2.0}, {}]).decode(),
        }
    )

    assert task_read(raw)[:3] == (queued, 2.0, 1)
    # Nor did they name the requests their events came from.
    assert task_read(raw).requests == [(None, 2)]


def test_a_task_whose_body_does_not_decompress_is_not_a_readable_delivery_task():
    raw = orjson.dumps(
        {
            "properties": {"delivery_tag": "t", "body_encoding": "base64"},
            "headers": {"task": DELIVER_TASK, "compression": "application/zstd"},
            "body": base64.b64encode(b"not zstandard").decode(),
        }
    )

    with pytest.raises(ValueError, match="cannot be decompressed as application/zstd"):
        task_read(raw)


def test_the_web_writes_the_message_celerys_send_task_would_write_and_kombu_reads_it(broker):
    queued = events(2)
    with request_id_bound("req-1"):
        batch_enqueue(events=queued)
    app.send_task(
        DELIVER_TASK,
        args=(queued,),
        kwargs={"queued_at": 1.0},
        serializer=TASK_BODY_SERIALIZER,
        compression="zstd",
        argsrepr="(2 events)",
        kwargsrepr="",
        headers={"request_ids": [["req-1", 2]]},
    )
    ours_raw, celerys_raw = broker.lindex(DELIVER_QUEUE, 1), broker.lindex(DELIVER_QUEUE, 0)
    # The intake reads both, and the request the events came from.
    assert task_read(ours_raw).events == task_read(celerys_raw).events == queued
    assert task_read(ours_raw).requests == task_read(celerys_raw).requests == [("req-1", 2)]
    ours, celerys = orjson.loads(ours_raw), orjson.loads(celerys_raw)

    assert set(ours) == set(celerys)
    per_task = {"id", "root_id"}
    assert {k: v for k, v in ours["headers"].items() if k not in per_task} == {
        k: v for k, v in celerys["headers"].items() if k not in per_task
    }
    assert ours["headers"]["compression"] == "application/zstd"
    assert ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
    # Celery also copies the reprs into the properties and names a reply queue no one reads.
    per_message = {"correlation_id", "delivery_tag", "reply_to", "argsrepr", "kwargsrepr"}
    assert {k: v for k, v in ours["properties"].items() if k not in per_message} == {
        k: v for k, v in celerys["properties"].items() if k not in per_message
    }
    assert ours["properties"]["body_encoding"] == "base64"
    assert (ours["content-type"], ours["content-encoding"]) == (celerys["content-type"], "utf-8")
    ours_body, celerys_body = (zstd.decompress(base64.b64decode(raw["body"])) for raw in (ours, celerys))
    assert orjson.loads(ours_body)[0] == orjson.loads(celerys_body)[0]

    with app.connection_for_read() as connection:
        message = connection.SimpleQueue(DELIVER_QUEUE, no_ack=True).get(timeout=5)
        (args, kwargs, embed) = message.decode()
    assert message.headers["task"] == DELIVER_TASK
    assert [QueuedEvent.from_task(item) for item in args[0]] == queued
    assert abs(kwargs["queued_at"] - time.time()) < 5
    assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def test_kombu_gives_back_the_tasks_a_dead_worker_held_once_they_are_older_than_the_visibility_timeout(
    broker, intake_queue
):
    batch_enqueue(events=events(2))
    [(tag, _raw)] = intake_queue.take(10)
    # The worker died holding it, longer ago than the visibility timeout.
    broker.zadd("unacked_index", {tag: time.time() - 7200})

    with app.connection_for_write() as connection:
        connection.default_channel.qos.restore_visible(num=10)  # type: ignore[attr-defined]  # as workers do

    assert broker.hlen("unacked") == 0
    [(again_tag, again)] = intake_queue.take(10)
    assert again_tag == tag
    decoded, _queued_at, retries, _requests = task_read(again)
    assert len(decoded) == 2
    assert retries == 1  # redelivered: an earlier attempt may have left dead letters


def test_holding_keeps_the_time_of_tasks_still_held_fresh_and_adds_none(broker, intake_queue):
    batch_enqueue(events=events(1))
    [(tag, _)] = intake_queue.take(10)
    broker.zadd("unacked_index", {tag: 100.0})

    intake_queue.hold([tag, "not-held"])

    assert broker.zscore("unacked_index", tag) > time.time() - 5
    assert broker.zscore("unacked_index", "not-held") is None


def test_giving_back_puts_tasks_at_the_head_of_the_queue_in_their_order(broker, intake_queue):
    for size in (1, 2):
        batch_enqueue(events=events(size))
    taken = intake_queue.take(10)
    batch_enqueue(events=events(3))

    intake_queue.give_back(taken)

    assert broker.hlen("unacked") == 0
    assert [len(task_read(raw).events) for _, raw in intake_queue.take(10)] == [1, 2, 3]


def test_a_message_that_is_json_but_no_task_goes_to_celerys_queue_and_the_batches_taken_with_it_are_delivered(
    broker, intake_queue
):
    broker.lpush(DELIVER_QUEUE, b"[1, 2]")
    batch_enqueue(events=events(2))
    with pytest.raises(NotADeliveryTask, match="a JSON list, not a task message"):
        task_read(b"[1, 2]")
    intake = Intake(intake_queue, concurrency=1, visibility_timeout=3600, celery_queue="celery")

    taken = intake._take()

    assert [len(task.events) for task in taken] == [2]
    assert set(broker.hkeys("unacked")) == {taken[0].tag.encode()}
    assert broker.lrange("celery", 0, -1) == [b"[1, 2]"]


def test_a_message_that_is_not_a_delivery_task_goes_to_celerys_own_queue(broker, intake_queue):
    app.send_task(REPLAY_TASK, args=(["7c1e4b2a-0000-4000-8000-000000000001"],), queue=DELIVER_QUEUE)
    raw = broker.lindex(DELIVER_QUEUE, 0)
    with pytest.raises(NotADeliveryTask):
        task_read(raw)
    intake = Intake(intake_queue, concurrency=1, visibility_timeout=3600, celery_queue="celery")

    assert intake._take() == []

    assert broker.llen(DELIVER_QUEUE) == 0
    assert broker.hlen("unacked") == 0
    [handed] = broker.lrange("celery", 0, -1)
    assert orjson.loads(handed)["headers"]["task"] == REPLAY_TASK


@pytest.fixture
def kafka_unreachable(settings: Any) -> Iterator[None]:
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"
    settings.KAFKA_DELIVERY_TIMEOUT = 1.0
    producer_reset()
    yield
    producer_reset()


def wait_for(condition: Any, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def nudged_events(count: int) -> list[QueuedEvent]:
    """Events Kafka would take, if it answered."""
    from registry.selectors import event_version_get

    version = event_version_get(full_name="org.openstax.ec.nudged_v1")
    assert version is not None
    return [
        QueuedEvent(f"7c1e4b2a-0000-4000-8000-{n:012d}", version.schema_id, "key", nudged_record(session_order=n))
        for n in range(count)
    ]


@pytest.mark.usefixtures("committed_catalogue", "kafka_unreachable")
def test_a_stop_while_kafka_does_not_answer_gives_the_tasks_back_to_the_head_of_the_queue(broker, intake_queue):
    batch_enqueue(events=nudged_events(2))
    intake = Intake(intake_queue, concurrency=2, visibility_timeout=3600, celery_queue="celery")
    intake.start()
    try:
        wait_for(lambda: broker.hlen("unacked") == 1)
        assert broker.llen(DELIVER_QUEUE) == 0
        batch_enqueue(events=nudged_events(1))
        time.sleep(1.5)  # a first attempt failed; the task is held while it is retried
        assert broker.hlen("unacked") == 2
    finally:
        intake.stop()

    assert broker.hlen("unacked") == 0
    assert sorted(len(task_read(raw).events) for _, raw in intake_queue.take(10)) == [1, 2]


@pytest.mark.usefixtures("committed_catalogue", "kafka_unreachable")
def test_a_paused_intake_takes_nothing_until_resumed(broker, intake_queue):
    intake = Intake(intake_queue, concurrency=1, visibility_timeout=3600, celery_queue="celery")
    intake.pause()
    intake.start()
    try:
        batch_enqueue(events=nudged_events(1))
        time.sleep(0.3)
        assert broker.llen(DELIVER_QUEUE) == 1
        assert intake.paused

        intake.resume()

        wait_for(lambda: broker.hlen("unacked") == 1)
        assert broker.llen(DELIVER_QUEUE) == 0
    finally:
        intake.stop()
