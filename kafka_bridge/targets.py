"""Where and how the events of one schema revision go to Kafka: the topic, the encoder (with the
schema id the records are framed with) and the record's headers. Delivery and the replay of dead
letters both build their records here, so a replayed record is the one delivery would have sent.

Targets are built once per process and schema id: revisions are immutable, so one never goes
stale. Nor does a failure to build one that comes of the revision itself or of a fault of ours
(its Avro schema cannot be prepared, an exception nobody foresaw): it is remembered, so the events
of that schema id become dead letters at once instead of the worker preparing the schema again
for every batch, and tried again only when the worker restarts or dead letters are replayed. A
revision that cannot be loaded and an external registry's refusal are tried again every time:
both are mended outside the revision (its data restored, the registry's settings).
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError

from eventcapture.exceptions import clipped
from kafka_bridge.encoding import Encoder, EncodingError
from kafka_bridge.producer import OutgoingRecord
from kafka_bridge.registry_client import RegistryRefused, RegistryUnavailable, record_schema_id
from registry.selectors import schema_revision_get

logger = logging.getLogger(__name__)

# Failures building a target that retrying mends: the external registry or the database not answering.
TRANSIENT = (RegistryUnavailable, OperationalError, InterfaceError)
# Characters of a remembered failure's message kept (it becomes dead letters' reason).
FAILURE_MESSAGE_CHARS = 1000


class UnknownSchema(LookupError):
    pass


class TargetFailed(Exception):
    """The target of a schema id cannot be built, for a reason of its revision's or a fault of
    ours; retrying the batch cannot help. ``kind``: the name of the exception it came of, which
    dead letters name as the failure (``RecursionError: maximum recursion depth exceeded``)."""

    def __init__(self, message: str, *, schema_id: int, kind: str) -> None:
        super().__init__(message)
        self.schema_id = schema_id
        self.kind = kind


@dataclass(frozen=True)
class EncodingTarget:
    topic: str
    full_name: str
    encoder: Encoder
    # The major's id: the key of its hourly counts (kafka_bridge.numbers).
    major_id: int

    def record(self, *, event_id: str, key: str, value: bytes) -> OutgoingRecord:
        """The Kafka record of an encoded event: its key, and the ``event_id`` and ``event_type``
        headers consumers drop duplicates and route by."""
        return OutgoingRecord(
            topic=self.topic,
            key=key,
            value=value,
            headers=[("event_id", event_id.encode()), ("event_type", self.full_name.encode())],
        )


def _target(schema_id: int) -> EncodingTarget:
    revision = schema_revision_get(schema_id=schema_id)
    if revision is None:
        raise UnknownSchema(f"no schema revision {schema_id}")
    full_name = revision.major.full_name
    framed_id = record_schema_id(local_id=schema_id, subject=full_name, schema=revision.avro_schema)
    return EncodingTarget(
        topic=revision.major.topic,
        full_name=full_name,
        encoder=Encoder(schema=revision.avro_schema_dict, schema_id=framed_id),
        major_id=revision.major_id,
    )


# Targets kept, by schema id; the oldest built goes first past this many.
TARGETS_MAX = 1024
_targets: dict[int, EncodingTarget] = {}
# Tried again on every call: mended outside the revision, or by waiting.
_NOT_REMEMBERED = (*TRANSIENT, UnknownSchema, RegistryRefused)
# Schema ids whose target failed to build, with the failure's kind and message.
_failures: dict[int, tuple[str, str]] = {}
_lock = threading.Lock()


def encoding_target(*, schema_id: int) -> EncodingTarget:
    """Where and how records of ``schema_id`` are produced. Raises ``UnknownSchema``,
    ``RegistryRefused`` or ``TargetFailed`` (permanent: its events are dead letters), or one of
    ``TRANSIENT`` (retry)."""
    # Once per event: one look-up, nothing else, when the target is built.
    target = _targets.get(schema_id)
    return target if target is not None else _target_built(schema_id)


def _target_built(schema_id: int) -> EncodingTarget:
    failure = _failures.get(schema_id)
    if failure is not None:
        raise TargetFailed(failure[1], schema_id=schema_id, kind=failure[0])
    try:
        target = _target(schema_id)
    except _NOT_REMEMBERED:
        raise
    except Exception as exc:
        failure = (type(exc).__name__, clipped(str(exc), FAILURE_MESSAGE_CHARS))
        _failures[schema_id] = failure
        if not isinstance(exc, EncodingError):
            unforeseen_failure_report(schema_id=schema_id, error=exc, stage="preparing its encoder")
        raise TargetFailed(failure[1], schema_id=schema_id, kind=failure[0]) from exc
    with _lock:
        if len(_targets) >= TARGETS_MAX:
            del _targets[next(iter(_targets))]
        _targets[schema_id] = target
    return target


def target_failures_forget() -> None:
    """Build again, once, the targets that failed (a replay of dead letters tries again)."""
    _failures.clear()


_reported: set[tuple[int, str]] = set()
_reported_lock = threading.Lock()


def encoding_cache_clear() -> None:
    """Forget every target, failure and report of this process (schema ids that may now name
    other revisions: a new database)."""
    with _lock:
        _targets.clear()
    _failures.clear()
    with _reported_lock:
        _reported.clear()


def unforeseen_failure_report(*, schema_id: int, error: Exception, stage: str) -> None:
    """Log, once per schema id and stage in this process, a failure of a kind nobody foresaw: a
    fault of ours (or a schema the registry should have refused), never of a client's input. The
    exception's type and where it was raised, not its message: that may quote an event's values."""
    with _reported_lock:
        if (schema_id, stage) in _reported:
            return
        _reported.add((schema_id, stage))
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    logger.error(
        "schema id %d: %s failed unexpectedly with %s%s; the events it fails for are kept as dead "
        "letters, with the reason (logged once per schema id)",
        schema_id,
        stage,
        type(error).__name__,
        where,
    )
