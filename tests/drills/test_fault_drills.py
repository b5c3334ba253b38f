"""Fault drills against real services: a Kafka broker and a Redis of the drills' own (stopped and
started by the drills), real Celery worker processes and the live server. Each drill posts batches
of nudged events, breaks something, repairs it, then reads the topic back from the beginning and
compares the ``event_id`` of every record with the ids the API returned in its 202 answers:
nothing accepted may be missing; a duplicate may only be another copy of an accepted id.

Run them alone with ``make drills`` (``scripts/test -m drill``)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from tests.drills.harness import (
    DRAIN_TIMEOUT,
    VISIBILITY_TIMEOUT,
    Client,
    DrillStack,
    Posted,
    Tally,
    Worker,
    WorkerStart,
    kafka_records,
    tally,
    wait_for,
)

pytestmark = [pytest.mark.drill, pytest.mark.integration]


def _finish(
    *,
    drill: str,
    stack: DrillStack,
    topic: str,
    posted: Posted,
    workers: list[Worker],
    record: Callable[[Tally], None],
    refused_may_arrive: bool = False,
) -> Tally:
    """Waits until every accepted event is in Kafka, stops the workers (warm shutdown), counts
    what reached Kafka, records the counts and checks that nothing was lost. ``refused_may_arrive``:
    a refused batch's publish may have reached the queue after its client had the 503 (Redis
    frozen mid-publish), so its events may arrive too, under ids no client was given."""
    assert posted.problems == [], posted.problems
    # Reads until every accepted id was seen (or the timeout), while the workers still run.
    for _ in kafka_records(
        bootstrap=stack.bootstrap,
        topic=topic,
        keys=posted.accepted_keys | posted.refused_keys,
        wanted=set(posted.accepted),
        timeout=DRAIN_TIMEOUT,
    ):
        pass
    statuses = [worker.terminate() for worker in workers if worker.process.poll() is None]
    result = tally(drill=drill, bootstrap=stack.bootstrap, topic=topic, posted=posted, timeout=30)
    result.extra.setdefault("left in queue", stack.queue_depth().total)
    record(result)
    assert result.lost == 0, f"{result.lost} accepted events never reached Kafka, e.g. {result.lost_ids}"
    if refused_may_arrive:
        # Every batch has a key of its own: records that are not an accepted id's can only be a
        # refused batch's, at most once each while no worker died.
        assert result.stray <= 50 * result.refused
    else:
        assert result.stray == 0, "records whose event_id the API never accepted reached Kafka"
    assert all(status == 0 for status in statuses), f"a worker's warm shutdown ended with {statuses}"
    return result


def test_a_kafka_down_for_20s_while_events_are_posted(
    drill_stack: DrillStack, drill_topic: str, drill_api: Client, drill_workers: WorkerStart, drill_record
) -> None:
    """(a) 3000 events in batches of 50 over ~30 s; the broker is stopped 5 s in and started again
    20 s later. The API keeps answering 202 (it never needs Kafka); the worker retries with backoff
    until the broker is back; every accepted event ends up in Kafka."""
    worker = drill_workers()
    poster, posted = drill_api.post_paced(batches=60, size=50, seconds=30)
    time.sleep(5)
    drill_stack.down("kafka")
    down_at = time.monotonic()
    time.sleep(20)
    up_at = time.monotonic()
    drill_stack.up("kafka")
    poster.join(timeout=120)
    assert not poster.is_alive()

    assert posted.statuses == {202: 60}
    accepted_while_down = sum(1 for at in posted.accepted_at if down_at <= at <= up_at)
    assert accepted_while_down > 0
    tally_ = _finish(
        drill="a (Kafka down 20 s)",
        stack=drill_stack,
        topic=drill_topic,
        posted=posted,
        workers=[worker],
        record=lambda result: drill_record(
            _with(result, **{"batches accepted while Kafka was down": accepted_while_down})
        ),
    )
    assert tally_.accepted == 3000


def test_b_sigkill_the_worker_in_the_middle_of_batches(
    drill_stack: DrillStack, drill_topic: str, drill_api: Client, drill_workers: WorkerStart, drill_record
) -> None:
    """(b) The worker delivers a first batch (its producer is connected); then the broker is frozen
    (SIGSTOP), so the batches the worker takes next are sent but never acknowledged, and the
    worker is SIGKILLed, as a crash or the OOM killer would (its unacknowledged tasks stay in
    Redis). The broker resumes and appends what the dead worker had sent; a new worker, started
    once the visibility timeout has passed, delivers every batch again: duplicates, each with the
    event_id of an accepted event."""
    first = drill_workers()
    posted = drill_api.post(batches=1)
    for _ in kafka_records(
        bootstrap=drill_stack.bootstrap,
        topic=drill_topic,
        keys=posted.accepted_keys,
        wanted=set(posted.accepted),
        timeout=60,
    ):
        pass
    with drill_stack.kafka_frozen():
        posted += drill_api.post(batches=20)
        wait_for(lambda: drill_stack.queue_depth().unacked >= 2, timeout=20, what="the worker to take batches")
        time.sleep(1)  # the batches in hand are produced and wait for their acknowledgements
        held = drill_stack.queue_depth()
        first.kill()
    # Redis hands the dead worker's tasks to another worker once they are older than the visibility
    # timeout; kombu looks when a worker starts (and then in a periodic sweep).
    taken_at = drill_stack.unacked_since()
    if taken_at is not None:
        time.sleep(max(0.0, taken_at + VISIBILITY_TIMEOUT + 1 - time.time()))
    second = drill_workers()

    assert set(posted.statuses) == {202}
    _finish(
        drill="b (SIGKILL mid-batch)",
        stack=drill_stack,
        topic=drill_topic,
        posted=posted,
        workers=[first, second],
        record=lambda result: drill_record(_with(result, **{"unacked tasks at the kill": held.unacked})),
    )


def test_c_redis_down_answers_503_and_loses_nothing(
    drill_stack: DrillStack, drill_topic: str, drill_api: Client, drill_workers: WorkerStart, drill_record
) -> None:
    """(c) With the broker stopped, batches pile up in Redis; then Redis is stopped: the API answers
    503 with Retry-After and accepts nothing. Redis is started again: the tasks queued before the
    outage are back (append-only file), new batches are accepted; the broker is started and every
    accepted event, from before and after the outage, is delivered by the same worker."""
    worker = drill_workers()
    drill_stack.down("kafka")
    before = drill_api.post(batches=10)
    assert before.statuses == {202: 10}
    time.sleep(1.5)  # appendfsync everysec
    depth_before = drill_stack.queue_depth()
    drill_stack.down("redis")
    during = drill_api.post(batches=10)
    drill_stack.up("redis")
    depth_after = drill_stack.queue_depth()
    after = drill_api.post(batches=10)
    drill_stack.up("kafka")

    assert during.statuses == {503: 10}
    assert during.without_retry_after == 0
    assert depth_after.total > 0, "nothing queued before the outage survived the restart"
    assert after.statuses[202] > 0
    posted = Posted()
    for part in (before, during, after):
        posted += part
    result = _finish(
        drill="c (Redis down)",
        stack=drill_stack,
        topic=drill_topic,
        posted=posted,
        workers=[worker],
        record=lambda result: drill_record(
            _with(
                result,
                **{
                    "503s during the outage": during.statuses[503],
                    "503s after it": after.statuses[503],
                    "tasks in Redis at the stop": depth_before.total,
                    "tasks in Redis after the restart": depth_after.total,
                },
            )
        ),
    )
    assert result.accepted == 50 * (10 + after.statuses[202])


def test_f_a_frozen_redis_answers_503_within_the_bound_and_loses_nothing(
    drill_stack: DrillStack,
    drill_topic: str,
    drill_api: Client,
    drill_workers: WorkerStart,
    drill_record,
    settings,
) -> None:
    """(f) Redis is frozen (SIGSTOP: a stuck server or a network partition, where connections hang
    rather than being refused) for 8 s while two clients post batches: every request is answered
    within the documented bound, twice QUEUE_TIMEOUT plus the connection timeout (503 with
    Retry-After, never a hang, never a 202 after the client left). Redis resumes (SIGCONT): the
    clients' batches are accepted again, and every accepted event reaches Kafka."""
    settings.QUEUE_TIMEOUT = 1.0
    bound = 2 * settings.QUEUE_TIMEOUT + settings.CELERY_BROKER_CONNECTION_TIMEOUT
    worker = drill_workers()
    second = Client(drill_api.url.removesuffix("/api/v0/events"))
    posters = [client.post_paced(batches=40, size=50, seconds=20) for client in (drill_api, second)]
    time.sleep(5)
    with drill_stack.redis_frozen():
        frozen_at = time.monotonic()
        time.sleep(8)
    resumed_at = time.monotonic()
    posted = Posted()
    for poster, part in posters:
        poster.join(timeout=120)
        assert not poster.is_alive()
        posted += part
    second.session.close()

    assert set(posted.statuses) == {202, 503}, posted.statuses
    assert posted.without_retry_after == 0
    # Accepted only before the freeze, or after Redis answered again.
    assert not [at for at in posted.accepted_at if frozen_at + bound < at < resumed_at]
    assert posted.slowest <= bound + 1.0, f"an answer took {posted.slowest:.1f} s"
    _finish(
        drill="f (Redis frozen 8 s)",
        stack=drill_stack,
        topic=drill_topic,
        posted=posted,
        workers=[worker],
        refused_may_arrive=True,
        record=lambda result: drill_record(
            _with(
                result,
                **{
                    "503s": posted.statuses[503],
                    "slowest answer s": round(posted.slowest, 1),
                    "bound s": bound,
                    "refused events delivered anyway": result.stray,
                },
            )
        ),
    )


def test_e_sigterm_with_records_in_the_producer_buffer(
    drill_stack: DrillStack, drill_topic: str, drill_api: Client, drill_workers: WorkerStart, drill_record
) -> None:
    """(e) With the broker stopped, the worker takes batches: their records wait in the producer's
    buffer. SIGTERM to the worker, and the broker is started: the warm shutdown finishes the
    batches in hand (their records delivered), hands back those it had not started, and exits 0.
    A new worker delivers the rest."""
    first = drill_workers(delivery_timeout=30)
    drill_stack.down("kafka")
    posted = drill_api.post(batches=10)
    assert posted.statuses == {202: 10}
    wait_for(lambda: drill_stack.queue_depth().unacked >= 2, timeout=20, what="the worker to take batches")
    time.sleep(1)  # the batches in hand are produced and wait for their delivery reports
    first.process.send_signal(signal.SIGTERM)
    drill_stack.up("kafka")
    status = first.wait(timeout=90)
    assert status == 0, first.log_tail()
    by_first = len(
        set(
            kafka_records(
                bootstrap=drill_stack.bootstrap,
                topic=drill_topic,
                keys=posted.accepted_keys,
                wanted=set(),
                timeout=30,
            )
        )
    )
    # The two batches in hand when the signal came were delivered before the worker exited.
    assert by_first >= 100
    second = drill_workers()

    result = _finish(
        drill="e (SIGTERM, records buffered)",
        stack=drill_stack,
        topic=drill_topic,
        posted=posted,
        workers=[second],
        record=lambda result: drill_record(_with(result, **{"delivered by the stopping worker": by_first})),
    )
    assert result.accepted == 500


def _with(result: Tally, **extra: object) -> Tally:
    result.extra.update(extra)
    return result
