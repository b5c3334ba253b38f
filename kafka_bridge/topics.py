"""Kafka topics of the registry's active majors: the desired state, the broker's, and the plan.

The desired state is the registry's active topics with the topics config file
(``KAFKA_TOPICS_CONFIG``, ``kafka_bridge/topics.toml`` by default); the actual state is the
broker's metadata and topic configs. ``topics_plan`` reads both and changes nothing;
``topics_apply`` creates the missing topics and, when asked to alter, makes the safe changes to
existing ones (more partitions, config values). It never lowers a partition count (Kafka cannot)
nor changes a replication factor (that needs a partition reassignment): both are reported as
drift. Each call builds a short-lived AdminClient; nothing runs at import.
"""

from __future__ import annotations

import logging
import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException

# confluent-kafka's documented import path; it re-exports these without `as`, which strict mypy
# does not count as exporting them.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from django.conf import settings

from kafka_bridge.connection import ClientLog, client_config
from registry.selectors import topic_list_active

logger = logging.getLogger(__name__)

# The old service's config/topics.yml: what a config file without these keys gets.
DEFAULT_PARTITIONS = 3
DEFAULT_REPLICATION_FACTOR = 3
DEFAULT_TIMEOUT = 15.0

MIN_INSYNC_REPLICAS = "min.insync.replicas"
_LEVEL_KEYS = ("partitions", "replication_factor", "config")
_CONFIG_NAME = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9]+)*$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class TopicsError(Exception):
    """The topics could not be planned or changed: the broker did not answer, refused, or the
    topics config is invalid."""


class TopicsConfigError(TopicsError):
    pass


# --- The topics config file -----------------------------------------------------------------------


@dataclass(frozen=True)
class TopicOverrides:
    """One topic's entry of the config file: what it sets differently from the defaults."""

    partitions: int | None = None
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicsConfig:
    partitions: int = DEFAULT_PARTITIONS
    replication_factor: int = DEFAULT_REPLICATION_FACTOR
    config: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[str, TopicOverrides] = field(default_factory=dict)
    path: Path | None = None


def topics_config_path() -> Path:
    return Path(settings.KAFKA_TOPICS_CONFIG)


def topics_config_load(*, path: Path) -> TopicsConfig:
    """The topics config at ``path``, validated. ``TopicsConfigError`` names the file and every
    problem found (unknown keys, values that are not positive integers, and so on)."""
    try:
        with path.open("rb") as file:
            raw = tomllib.load(file)
    except FileNotFoundError as exc:
        raise TopicsConfigError(f"topics config {path}: no such file (setting KAFKA_TOPICS_CONFIG)") from exc
    except OSError as exc:
        raise TopicsConfigError(f"topics config {path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TopicsConfigError(f"topics config {path}: not valid TOML: {exc}") from exc
    return topics_config_parse(raw, path=path)


def topics_config_parse(raw: Mapping[str, Any], *, path: Path | None = None) -> TopicsConfig:
    """Validate a parsed topics config (the TOML file's tables)."""
    problems: list[str] = []
    for key in raw:
        if key not in ("defaults", "topics"):
            problems.append(f"unknown key {key!r} at the top level (known: defaults, topics)")

    defaults = _level_parse(raw.get("defaults", {}), where="[defaults]", problems=problems)
    partitions = defaults.partitions or DEFAULT_PARTITIONS
    replication_factor = defaults.replication_factor or DEFAULT_REPLICATION_FACTOR
    _min_insync_check(defaults.config, replication_factor, where="[defaults]", problems=problems)

    topics: dict[str, TopicOverrides] = {}
    raw_topics = raw.get("topics", {})
    if not isinstance(raw_topics, Mapping):
        problems.append("[topics] must be a table of topics")
        raw_topics = {}
    for name, raw_level in raw_topics.items():
        where = f"[topics.{name}]"
        if not _TOPIC_NAME.match(name):
            problems.append(f"{where}: not a Kafka topic name (letters, digits, '.', '_' and '-')")
        overrides = _level_parse(raw_level, where=where, problems=problems)
        _min_insync_check(
            {**defaults.config, **overrides.config},
            overrides.replication_factor or replication_factor,
            where=where,
            problems=problems,
        )
        topics[name] = overrides

    if problems:
        source = f"topics config {path}" if path else "topics config"
        raise TopicsConfigError(f"{source} is invalid:\n  " + "\n  ".join(problems))
    return TopicsConfig(
        partitions=partitions,
        replication_factor=replication_factor,
        config=defaults.config,
        topics=topics,
        path=path,
    )


def _level_parse(raw: object, *, where: str, problems: list[str]) -> TopicOverrides:
    if not isinstance(raw, Mapping):
        problems.append(f"{where} must be a table")
        return TopicOverrides()
    for key in raw:
        if key not in _LEVEL_KEYS:
            problems.append(f"{where}: unknown key {key!r} (known: {', '.join(_LEVEL_KEYS)})")
    return TopicOverrides(
        partitions=_positive_int(raw.get("partitions"), where=f"{where} partitions", problems=problems),
        replication_factor=_positive_int(
            raw.get("replication_factor"), where=f"{where} replication_factor", problems=problems
        ),
        config=_configs_parse(raw.get("config", {}), where=f"{where} config", problems=problems),
    )


def _positive_int(value: object, *, where: str, problems: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"{where} must be a positive integer, not {value!r}")
        return None
    return value


def _configs_parse(raw: object, *, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        problems.append(f"{where} must be a table of Kafka topic configs")
        return {}
    configs: dict[str, str] = {}
    for name, value in raw.items():
        if not _CONFIG_NAME.match(name):
            problems.append(f'{where}: {name!r} is not a Kafka config name (such as "retention.ms")')
        elif isinstance(value, bool):
            configs[name] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            configs[name] = str(value)
        else:
            problems.append(f'{where}: {name} must be a number, a boolean or a string (lists as "a,b")')
    if MIN_INSYNC_REPLICAS in configs and _int_or_none(configs[MIN_INSYNC_REPLICAS]) is None:
        problems.append(f"{where}: {MIN_INSYNC_REPLICAS} must be a positive integer, not {raw[MIN_INSYNC_REPLICAS]!r}")
        del configs[MIN_INSYNC_REPLICAS]
    return configs


def _min_insync_check(configs: Mapping[str, str], replication_factor: int, *, where: str, problems: list[str]) -> None:
    min_insync = _int_or_none(configs.get(MIN_INSYNC_REPLICAS, ""))
    if min_insync is not None and min_insync > replication_factor:
        problems.append(
            f"{where}: {MIN_INSYNC_REPLICAS} {min_insync} is more than the replication factor "
            f"{replication_factor}: no write with acks=all could ever succeed"
        )


def _int_or_none(value: str) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 1 else None


# --- Desired and actual state, and the plan between them ------------------------------------------


@dataclass(frozen=True)
class TopicSpec:
    """What one topic should be: its Kafka name, and its values after capping."""

    name: str
    registry_name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


@dataclass(frozen=True)
class TopicState:
    """What one topic is on the broker. ``replication_factor`` is its least replicated partition's."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]


@dataclass(frozen=True)
class ConfigChange:
    key: str
    desired: str
    actual: str | None


@dataclass(frozen=True)
class TopicPlan:
    spec: TopicSpec
    actual: TopicState | None
    config_changes: tuple[ConfigChange, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def missing(self) -> bool:
        return self.actual is None

    @property
    def partitions_to_add(self) -> int:
        return 0 if self.actual is None else max(0, self.spec.partitions - self.actual.partitions)

    @property
    def partitions_excess(self) -> int:
        """Partitions more than configured: cannot be fixed, Kafka never removes partitions."""
        return 0 if self.actual is None else max(0, self.actual.partitions - self.spec.partitions)

    @property
    def replication_differs(self) -> bool:
        """Reported, never changed: a different replication factor needs a partition reassignment."""
        return self.actual is not None and self.actual.replication_factor != self.spec.replication_factor

    @property
    def fixable(self) -> bool:
        """There are safe changes for ``--alter`` to make."""
        return bool(self.partitions_to_add or self.config_changes)

    @property
    def unfixable(self) -> bool:
        return bool(self.partitions_excess or self.replication_differs)

    @property
    def in_sync(self) -> bool:
        return self.actual is not None and not self.fixable and not self.unfixable


@dataclass(frozen=True)
class TopicsPlan:
    bootstrap_servers: str
    brokers: int
    config_path: Path | None
    topics: tuple[TopicPlan, ...]
    warnings: tuple[str, ...] = ()

    @property
    def to_create(self) -> list[TopicPlan]:
        return [topic for topic in self.topics if topic.missing]

    @property
    def to_alter(self) -> list[TopicPlan]:
        return [topic for topic in self.topics if topic.fixable]

    @property
    def in_sync(self) -> bool:
        return all(topic.in_sync for topic in self.topics)


def topics_plan_compute(
    *,
    config: TopicsConfig,
    registry_topics: Sequence[str],
    prefix: str,
    brokers: int,
    actual: Mapping[str, TopicState],
    partitions: int | None = None,
    replication: int | None = None,
    bootstrap_servers: str = "",
) -> TopicsPlan:
    """The plan from the desired state (``registry_topics``, registry names without ``prefix``,
    with ``config``) to the ``actual`` state (keyed by Kafka name) of a cluster of ``brokers``.

    ``partitions`` and ``replication`` replace the config's defaults (the command's options, else
    the settings), never a topic's own values. The replication factor is capped at ``brokers``, and
    ``min.insync.replicas`` at the replication factor (also an existing topic's actual one, which
    may be lower): above it, producers with acks=all could never write. Both caps warn."""
    warnings: list[str] = []

    def warn(message: str) -> None:
        if message not in warnings:
            warnings.append(message)

    known = set(registry_topics)
    for name in config.topics:
        if name not in known:
            warn(f"the topics config names {name!r}, the topic of no active major: ignored")

    plans: list[TopicPlan] = []
    for registry_name in sorted(known):
        overrides = config.topics.get(registry_name, TopicOverrides())
        name = f"{prefix}{registry_name}"
        state = actual.get(name)
        wanted_replication = overrides.replication_factor or replication or config.replication_factor
        replication_factor = min(wanted_replication, brokers)
        if replication_factor < wanted_replication:
            warn(
                f"replication factor {wanted_replication} capped at {brokers}: "
                f"the cluster has {brokers} broker{'s' if brokers != 1 else ''}"
            )
        configs = {**config.config, **overrides.config}
        min_insync = _int_or_none(configs.get(MIN_INSYNC_REPLICAS, ""))
        if min_insync is not None:
            ceiling = replication_factor if state is None else min(replication_factor, state.replication_factor)
            if min_insync > ceiling:
                configs[MIN_INSYNC_REPLICAS] = str(ceiling)
                whose = "the replication factor" if ceiling == replication_factor else f"{name}'s replication factor"
                warn(
                    f"{MIN_INSYNC_REPLICAS} {min_insync} lowered to {ceiling}, {whose}: "
                    "above it, producers with acks=all could never write"
                )
        spec = TopicSpec(
            name=name,
            registry_name=registry_name,
            partitions=overrides.partitions or partitions or config.partitions,
            replication_factor=replication_factor,
            config=configs,
        )
        changes: tuple[ConfigChange, ...] = ()
        if state is not None:
            changes = tuple(
                ConfigChange(key=key, desired=value, actual=state.config.get(key))
                for key, value in sorted(configs.items())
                if _config_normal(state.config.get(key)) != _config_normal(value)
            )
        plans.append(TopicPlan(spec=spec, actual=state, config_changes=changes))
    return TopicsPlan(
        bootstrap_servers=bootstrap_servers,
        brokers=brokers,
        config_path=config.path,
        topics=tuple(plans),
        warnings=tuple(warnings),
    )


def _config_normal(value: str | None) -> str | None:
    """Kafka echoes list configs without the spaces a config file may have ("compact, delete")."""
    return None if value is None else ",".join(part.strip() for part in value.split(","))


# --- Talking to the broker ------------------------------------------------------------------------


def _admin(*, timeout: float) -> tuple[AdminClient, ClientLog]:
    log = ClientLog()
    admin = AdminClient(
        {
            **client_config(client_id="eventcapture-topics"),
            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
        },
        logger=log,
    )
    return admin, log


def _error_text(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else None
    return str(error.str()) if isinstance(error, KafkaError) else str(exc)


def _error_code(exc: BaseException) -> int | None:
    error = exc.args[0] if exc.args else None
    return int(error.code()) if isinstance(error, KafkaError) else None


def topics_actual_get(
    *, admin: AdminClient, log: ClientLog, names: Sequence[str], timeout: float
) -> tuple[int, dict[str, TopicState]]:
    """The broker count and the state of those of ``names`` that exist."""
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0)  # hands librdkafka's queued log lines to ``log``
        detail = f" ({log.last_problem})" if log.last_problem else ""
        raise TopicsError(
            f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer within {timeout:g}s: "
            f"{_error_text(exc)}{detail}"
        ) from exc
    existing = [name for name in names if name in metadata.topics]
    configs: dict[str, dict[str, str]] = {}
    if existing:
        futures = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in existing], request_timeout=timeout
        )
        for resource, future in futures.items():
            try:
                entries = future.result()
            except KafkaException as exc:
                raise TopicsError(f"could not read the configs of topic {resource.name}: {_error_text(exc)}") from exc
            configs[resource.name] = {key: entry.value for key, entry in entries.items() if entry.value is not None}
    states: dict[str, TopicState] = {}
    for name in existing:
        partitions = metadata.topics[name].partitions
        states[name] = TopicState(
            name=name,
            partitions=len(partitions),
            replication_factor=min((len(partition.replicas) for partition in partitions.values()), default=0),
            config=configs.get(name, {}),
        )
    return len(metadata.brokers), states


def topics_plan(
    *,
    partitions: int | None = None,
    replication: int | None = None,
    config_path: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> TopicsPlan:
    """Compare the topics of every active major, as the topics config wants them, with the
    broker's. Changes nothing. ``partitions``/``replication``: None takes ``KAFKA_TOPIC_PARTITIONS``
    / ``KAFKA_TOPIC_REPLICATION``, and when those are unset too, the config's defaults.
    Raises ``TopicsConfigError`` for an invalid config and ``TopicsError`` when Kafka does not
    answer."""
    config = topics_config_load(path=config_path or topics_config_path())
    prefix: str = settings.KAFKA_TOPIC_PREFIX
    # Registry topics come prefixed (registry.models.kafka_topic_name); the config is keyed
    # without the prefix, so that one file serves every environment.
    registry_topics = [topic.removeprefix(prefix) for topic in topic_list_active()]
    admin, log = _admin(timeout=timeout)
    brokers, actual = topics_actual_get(
        admin=admin, log=log, names=[f"{prefix}{topic}" for topic in registry_topics], timeout=timeout
    )
    return topics_plan_compute(
        config=config,
        registry_topics=registry_topics,
        prefix=prefix,
        brokers=brokers,
        actual=actual,
        partitions=partitions if partitions is not None else settings.KAFKA_TOPIC_PARTITIONS,
        replication=replication if replication is not None else settings.KAFKA_TOPIC_REPLICATION,
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
    )


@dataclass
class TopicsResult:
    """What ``topics_apply`` did. ``failures`` empty: everything it tried succeeded."""

    created: list[str] = field(default_factory=list)
    # Created by someone else between the plan and the creation (another run, in parallel).
    appeared: list[str] = field(default_factory=list)
    partitions_added: list[str] = field(default_factory=list)
    configs_set: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def topics_apply(*, plan: TopicsPlan, alter: bool, timeout: float = DEFAULT_TIMEOUT) -> TopicsResult:
    """Create the plan's missing topics; with ``alter``, also add the missing partitions and set
    the differing configs of existing topics. Failures are collected, not raised, so that one
    refused topic does not hide what happened to the others."""
    result = TopicsResult()
    admin, _log = _admin(timeout=timeout)
    if plan.to_create:
        _run(
            "create",
            lambda: admin.create_topics(
                [
                    NewTopic(
                        topic.name,
                        num_partitions=topic.spec.partitions,
                        replication_factor=topic.spec.replication_factor,
                        config=dict(topic.spec.config),
                    )
                    for topic in plan.to_create
                ],
                operation_timeout=timeout,
                request_timeout=timeout,
            ),
            done=result.created,
            result=result,
        )
    if alter:
        growing = [topic for topic in plan.topics if topic.partitions_to_add]
        if growing:
            _run(
                "add partitions to",
                lambda: admin.create_partitions(
                    [NewPartitions(topic.name, topic.spec.partitions) for topic in growing],
                    operation_timeout=timeout,
                    request_timeout=timeout,
                ),
                done=result.partitions_added,
                result=result,
            )
        changing = [topic for topic in plan.topics if topic.config_changes]
        if changing:
            _run(
                "set the configs of",
                lambda: admin.incremental_alter_configs(
                    [
                        ConfigResource(
                            ResourceType.TOPIC,
                            topic.name,
                            incremental_configs=[
                                ConfigEntry(change.key, change.desired, incremental_operation=AlterConfigOpType.SET)
                                for change in topic.config_changes
                            ],
                        )
                        for topic in changing
                    ],
                    request_timeout=timeout,
                ),
                done=result.configs_set,
                result=result,
            )
    grown = set(result.created) | set(result.partitions_added)
    partitions = {topic.name: topic.spec.partitions for topic in plan.topics if topic.name in grown}
    changes = {topic.name: topic.config_changes for topic in plan.topics if topic.name in result.configs_set}
    try:
        if partitions:
            _leaders_wait(admin=admin, partitions=partitions, timeout=timeout)
        if changes:
            _configs_wait(admin=admin, changes=changes, timeout=timeout)
    except (TopicsError, KafkaException) as exc:
        result.failures.append(str(exc) if isinstance(exc, TopicsError) else _error_text(exc))
    return result


def _run(verb: str, call: Callable[[], Mapping[Any, Future[None]]], *, done: list[str], result: TopicsResult) -> None:
    """Call one admin request and sort its per-topic futures into ``done`` and failures."""
    try:
        futures = call()
    except KafkaException as exc:
        result.failures.append(f"could not {verb} topics: {_error_text(exc)}")
        return
    for key, future in futures.items():
        name = key.name if isinstance(key, ConfigResource) else key
        try:
            future.result()
        except KafkaException as exc:
            if verb == "create" and _error_code(exc) == KafkaError.TOPIC_ALREADY_EXISTS:
                # Another run created it between the plan and now: not a failure.
                result.appeared.append(name)
                continue
            result.failures.append(f"could not {verb} {name}: {_error_text(exc)}")
        else:
            done.append(name)
    done.sort()


def topics_ensure(
    *, partitions: int | None = None, replication: int | None = None, timeout: float = DEFAULT_TIMEOUT
) -> TopicsResult:
    """Create the missing topics of every active major (``populate_topics`` without options);
    existing topics are left as they are. Raises ``TopicsError`` if anything failed."""
    result = topics_apply(
        plan=topics_plan(partitions=partitions, replication=replication, timeout=timeout), alter=False, timeout=timeout
    )
    if result.failures:
        raise TopicsError("; ".join(result.failures))
    return result


def _leaders_wait(*, admin: AdminClient, partitions: Mapping[str, int], timeout: float) -> None:
    """Return once each topic has its number of ``partitions``, each with a leader: a created or
    grown topic is not fully usable (produce, offsets) before that, and a run right after this one
    would see the old count."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout)
        waiting = [
            topic
            for topic, count in partitions.items()
            if topic not in metadata.topics
            or len(metadata.topics[topic].partitions) < count
            or any(partition.leader < 0 for partition in metadata.topics[topic].partitions.values())
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TopicsError(f"partitions without a leader after {timeout:g}s in: {', '.join(waiting)}")
        time.sleep(0.2)


def _configs_wait(*, admin: AdminClient, changes: Mapping[str, Sequence[ConfigChange]], timeout: float) -> None:
    """Return once the brokers report the new config values: they take them from the controller
    asynchronously, and a run right after this one would otherwise see the old ones."""
    deadline = time.monotonic() + timeout
    while True:
        futures = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in changes], request_timeout=timeout
        )
        waiting = []
        for resource, future in futures.items():
            entries = future.result()
            if any(
                _config_normal(entries[change.key].value if change.key in entries else None)
                != _config_normal(change.desired)
                for change in changes[resource.name]
            ):
                waiting.append(resource.name)
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TopicsError(f"new configs not visible after {timeout:g}s: {', '.join(sorted(waiting))}")
        time.sleep(0.2)
