"""`manage.py populate_topics` against the real broker; the plan and the topics config without one.

Each broker test names its topics with a prefix of its own (under the run's, so the session's
clean-up catches leftovers) and deletes them afterwards.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from kafka_bridge.connection import client_config
from kafka_bridge.topics import (
    TopicsConfig,
    TopicsConfigError,
    TopicState,
    topics_config_load,
    topics_config_parse,
    topics_plan_compute,
)
from tests.factories import SHIPPED_TOPICS
from tests.ports import closed_port

REGISTRY_TOPICS = sorted(set(SHIPPED_TOPICS.values()))
# The shipped kafka_bridge/topics.toml on the one-broker test cluster: replication and
# min.insync.replicas capped at 1.
SHIPPED_CONFIGS_ON_ONE_BROKER = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "min.insync.replicas": "1",
    "retention.ms": "604800000",
    "unclean.leader.election.enable": "false",
}
CAP_WARNINGS = (
    "warning: replication factor 3 capped at 1: the cluster has 1 broker\n"
    "warning: min.insync.replicas 2 lowered to 1, the replication factor: "
    "above it, producers with acks=all could never write\n"
)


@dataclass(frozen=True)
class Outcome:
    status: int
    out: str
    err: str


def populate_topics(*args: str) -> Outcome:
    """The command as `manage.py` runs it: a CommandError is its message on stderr and its status."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("populate_topics", *args, stdout=out, stderr=err, no_color=True)
    except CommandError as exc:
        return Outcome(exc.returncode, out.getvalue(), f"{err.getvalue()}CommandError: {exc}\n")
    return Outcome(0, out.getvalue(), err.getvalue())


@pytest.fixture
def admin() -> AdminClient:
    return AdminClient(client_config(client_id="eventcapture-tests"))


@pytest.fixture
def prefix(settings, admin: AdminClient) -> Iterator[str]:
    """A topic prefix of this test's own; its topics are deleted at the end."""
    ours = f"{settings.KAFKA_TOPIC_PREFIX}populate.{uuid.uuid4().hex[:8]}."
    settings.KAFKA_TOPIC_PREFIX = ours
    yield ours
    topics = [topic for topic in admin.list_topics(timeout=10).topics if topic.startswith(ours)]
    for future in admin.delete_topics(topics, operation_timeout=30).values() if topics else []:
        future.result(timeout=30)


def broker_state(admin: AdminClient, prefix: str) -> dict[str, tuple[int, int, dict[str, str]]]:
    """Partitions, replication factor and the shipped config's keys of every topic under ``prefix``."""
    metadata = admin.list_topics(timeout=10)
    names = sorted(topic for topic in metadata.topics if topic.startswith(prefix))
    if not names:
        return {}
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in names])
    configs = {resource.name: future.result(timeout=30) for resource, future in futures.items()}
    return {
        name: (
            len(metadata.topics[name].partitions),
            min(len(partition.replicas) for partition in metadata.topics[name].partitions.values()),
            {key: configs[name][key].value for key in SHIPPED_CONFIGS_ON_ONE_BROKER},
        )
        for name in names
    }


def create_topic(admin: AdminClient, name: str, *, partitions: int, config: dict[str, str] | None = None) -> None:
    future = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])
    future[name].result(timeout=30)


def set_config(admin: AdminClient, name: str, key: str, value: str) -> None:
    resource = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    # Brokers take the new value from the controller a moment later.
    deadline = time.monotonic() + 10
    while True:
        # Hold the dict of futures until they are done: confluent-kafka resolves them through it.
        futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)], request_timeout=10)
        if next(iter(futures.values())).result(timeout=10)[key].value == value:
            return
        assert time.monotonic() < deadline, f"{name}: {key} did not become {value}"
        time.sleep(0.05)


def header(*, dry_run: bool = False) -> str:
    return (
        f"Kafka {django_settings.KAFKA_BOOTSTRAP_SERVERS} (1 broker), topics config "
        f"{django_settings.KAFKA_TOPICS_CONFIG}: {len(REGISTRY_TOPICS)} topics of active majors"
        + (" (dry run: nothing is changed)" if dry_run else "")
        + "\n"
    )


CREATED_SHAPE = (
    "3 partitions, replication factor 1; cleanup.policy=delete compression.type=producer "
    "min.insync.replicas=1 retention.ms=604800000 unclean.leader.election.enable=false"
)


# --- Against the real broker ----------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_it_creates_every_active_topic_with_the_configs_partitions_and_configs_capped_to_one_broker(admin, prefix):
    outcome = populate_topics()

    assert outcome.status == 0
    assert outcome.err == CAP_WARNINGS
    assert outcome.out == (
        header()
        + "".join(f"created       {prefix}{topic}\n                {CREATED_SHAPE}\n" for topic in REGISTRY_TOPICS)
        + f"summary: {len(REGISTRY_TOPICS)} created\n"
    )
    assert broker_state(admin, prefix) == {
        f"{prefix}{topic}": (3, 1, SHIPPED_CONFIGS_ON_ONE_BROKER) for topic in REGISTRY_TOPICS
    }


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_a_second_run_changes_nothing_and_reports_every_topic_in_sync(admin, prefix):
    assert populate_topics().status == 0
    before = broker_state(admin, prefix)

    outcome = populate_topics()

    assert outcome.status == 0
    assert outcome.err == CAP_WARNINGS
    assert outcome.out == (
        header()
        + "".join(f"in sync       {prefix}{topic}\n" for topic in REGISTRY_TOPICS)
        + f"summary: {len(REGISTRY_TOPICS)} in sync\n"
    )
    assert broker_state(admin, prefix) == before


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_it_reports_each_difference_of_existing_topics_and_changes_nothing(admin, prefix):
    create_topic(admin, f"{prefix}changed_state", partitions=1)
    assert populate_topics().status == 0
    set_config(admin, f"{prefix}nudged", "retention.ms", "1000")
    set_config(admin, f"{prefix}nudged", "cleanup.policy", "compact")
    before = broker_state(admin, prefix)

    outcome = populate_topics()

    assert outcome.status == 0
    assert outcome.err == CAP_WARNINGS
    lines = {
        "changed_state": (
            f"drift         {prefix}changed_state\n"
            "                partitions: 1 on the broker, 3 configured (--alter adds 2)\n"
        ),
        "nudged": (
            f"drift         {prefix}nudged\n"
            "                cleanup.policy: compact on the broker, delete configured (--alter sets it)\n"
            "                retention.ms: 1000 on the broker, 604800000 configured (--alter sets it)\n"
        ),
    }
    assert outcome.out == (
        header()
        + "".join(lines.get(topic, f"in sync       {prefix}{topic}\n") for topic in REGISTRY_TOPICS)
        + f"summary: {len(REGISTRY_TOPICS) - 2} in sync, 2 drift\n"
        + "run with --alter to add the missing partitions and set the differing configs\n"
    )
    assert broker_state(admin, prefix) == before


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_a_dry_run_reports_what_it_would_create_and_creates_nothing(admin, prefix):
    outcome = populate_topics("--dry-run")

    assert outcome.status == 0
    assert outcome.err == CAP_WARNINGS
    assert outcome.out == (
        header(dry_run=True)
        + "".join(f"would create  {prefix}{topic}\n                {CREATED_SHAPE}\n" for topic in REGISTRY_TOPICS)
        + f"summary: {len(REGISTRY_TOPICS)} would create\n"
    )
    assert broker_state(admin, prefix) == {}


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_a_dry_run_with_alter_reports_what_it_would_alter_and_changes_nothing(admin, prefix):
    create_topic(admin, f"{prefix}nudged", partitions=2, config={"retention.ms": "1000"})
    assert populate_topics().status == 0
    before = broker_state(admin, prefix)

    outcome = populate_topics("--dry-run", "--alter")

    assert outcome.status == 0
    assert (
        f"would alter   {prefix}nudged\n"
        "                partitions: 2 on the broker, 3 configured (would add 1)\n"
        "                retention.ms: 1000 on the broker, 604800000 configured (would set it)\n"
    ) in outcome.out
    assert outcome.out.endswith(f"summary: 1 would alter, {len(REGISTRY_TOPICS) - 1} in sync\n")
    assert broker_state(admin, prefix) == before


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_alter_adds_partitions_and_sets_configs_and_then_everything_is_in_sync(admin, prefix):
    create_topic(admin, f"{prefix}nudged", partitions=1, config={"retention.ms": "1000", "min.insync.replicas": "1"})
    assert populate_topics().status == 0

    outcome = populate_topics("--alter")

    assert outcome.status == 0
    assert outcome.err == CAP_WARNINGS
    assert outcome.out == (
        header()
        + "".join(
            (
                f"altered       {prefix}nudged\n"
                "                partitions: 1 -> 3 (added 2)\n"
                "                retention.ms: 1000 -> 604800000\n"
            )
            if topic == "nudged"
            else f"in sync       {prefix}{topic}\n"
            for topic in REGISTRY_TOPICS
        )
        + f"summary: 1 altered, {len(REGISTRY_TOPICS) - 1} in sync\n"
    )
    assert broker_state(admin, prefix)[f"{prefix}nudged"] == (3, 1, SHIPPED_CONFIGS_ON_ONE_BROKER)
    again = populate_topics()
    assert again.status == 0
    assert again.out.endswith(f"summary: {len(REGISTRY_TOPICS)} in sync\n")


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_a_topic_with_more_partitions_than_configured_is_reported_and_left_alone(admin, prefix):
    create_topic(admin, f"{prefix}nudged", partitions=5)

    outcome = populate_topics("--alter")

    assert outcome.status == 0
    assert (
        f"drift         {prefix}nudged\n"
        "                partitions: 5 on the broker, 3 configured (left alone: Kafka cannot remove partitions)\n"
    ) in outcome.out
    assert outcome.out.endswith(
        f"summary: {len(REGISTRY_TOPICS) - 1} created, 1 drift\n"
        "1 topic differs in ways populate_topics never changes (see 'left alone' above)\n"
    )
    assert broker_state(admin, prefix)[f"{prefix}nudged"][0] == 5


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue")
def test_a_topic_kafka_refuses_to_create_is_reported_and_the_exit_status_is_1(admin, prefix, settings, tmp_path):
    config = tmp_path / "topics.toml"
    config.write_text('[topics.nudged.config]\n"retention.msec" = 1000\n')
    settings.KAFKA_TOPICS_CONFIG = config

    outcome = populate_topics()

    assert outcome.status == 1
    assert f"failed        {prefix}nudged\n" in outcome.out
    assert outcome.err.endswith(
        f"CommandError: could not create {prefix}nudged: Unknown topic config name: retention.msec\n"
    )
    assert set(broker_state(admin, prefix)) == {f"{prefix}{topic}" for topic in REGISTRY_TOPICS if topic != "nudged"}


@pytest.mark.usefixtures("catalogue")
def test_it_exits_with_1_and_says_so_when_kafka_does_not_answer(settings):
    port = closed_port()
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{port}"

    outcome = populate_topics("--timeout", "1")

    assert outcome.status == 1
    assert outcome.out == ""
    assert outcome.err.startswith(
        f"CommandError: Kafka at 127.0.0.1:{port} did not answer within 1s: "
        f"Failed to get metadata: Local: Broker transport failure (127.0.0.1:{port}/bootstrap: "
        f"Connect to ipv4#127.0.0.1:{port} failed: Connection refused"
    )


def test_an_invalid_topics_config_stops_it_with_every_problem_named(settings, tmp_path):
    config = tmp_path / "topics.toml"
    config.write_text('[defaults]\npartition = 3\n\n[topics.nudged]\nreplication_factor = "two"\n')
    settings.KAFKA_TOPICS_CONFIG = config

    outcome = populate_topics()

    assert outcome.status == 1
    assert outcome.err == (
        f"CommandError: topics config {config} is invalid:\n"
        "  [defaults]: unknown key 'partition' (known: partitions, replication_factor, config)\n"
        "  [topics.nudged] replication_factor must be a positive integer, not 'two'\n"
    )


def test_it_refuses_a_partition_count_that_is_not_a_positive_integer():
    with pytest.raises(CommandError, match="argument --partitions: must be a positive integer, not '0'"):
        call_command("populate_topics", "--partitions", "0")


# --- The topics config file -----------------------------------------------------------------------


def test_the_shipped_topics_config_is_the_old_services_defaults_with_production_configs():
    config = topics_config_load(path=Path(django_settings.BASE_DIR) / "kafka_bridge" / "topics.toml")

    assert (config.partitions, config.replication_factor, config.topics) == (3, 3, {})
    assert config.config == {**SHIPPED_CONFIGS_ON_ONE_BROKER, "min.insync.replicas": "2"}


def test_a_config_without_defaults_gets_3_partitions_and_replication_3():
    config = topics_config_parse({})

    assert (config.partitions, config.replication_factor, config.config) == (3, 3, {})


def test_per_topic_values_and_config_values_of_every_kind_are_read():
    config = topics_config_parse(
        {
            "topics": {
                "xapi_statement": {
                    "partitions": 6,
                    "config": {"retention.ms": 1209600000, "preallocate": True, "min.cleanable.dirty.ratio": 0.5},
                }
            }
        }
    )

    overrides = config.topics["xapi_statement"]
    assert (overrides.partitions, overrides.replication_factor) == (6, None)
    assert overrides.config == {"retention.ms": "1209600000", "preallocate": "true", "min.cleanable.dirty.ratio": "0.5"}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"default": {}}, "unknown key 'default' at the top level (known: defaults, topics)"),
        (
            {"defaults": {"replicas": 3}},
            "[defaults]: unknown key 'replicas' (known: partitions, replication_factor, config)",
        ),
        ({"defaults": {"partitions": "3"}}, "[defaults] partitions must be a positive integer, not '3'"),
        ({"defaults": {"partitions": 0}}, "[defaults] partitions must be a positive integer, not 0"),
        ({"defaults": {"partitions": 2.5}}, "[defaults] partitions must be a positive integer, not 2.5"),
        (
            {"defaults": {"replication_factor": True}},
            "[defaults] replication_factor must be a positive integer, not True",
        ),
        ({"defaults": []}, "[defaults] must be a table"),
        ({"defaults": {"config": "retention.ms=1"}}, "[defaults] config must be a table of Kafka topic configs"),
        (
            {"defaults": {"config": {"cleanup.policy": ["compact", "delete"]}}},
            '[defaults] config: cleanup.policy must be a number, a boolean or a string (lists as "a,b")',
        ),
        (
            {"defaults": {"config": {"Retention_MS": 1}}},
            "[defaults] config: 'Retention_MS' is not a Kafka config name (such as \"retention.ms\")",
        ),
        (
            {"defaults": {"config": {"min.insync.replicas": "two"}}},
            "[defaults] config: min.insync.replicas must be a positive integer, not 'two'",
        ),
        (
            {"defaults": {"replication_factor": 2, "config": {"min.insync.replicas": 3}}},
            "[defaults]: min.insync.replicas 3 is more than the replication factor 2: "
            "no write with acks=all could ever succeed",
        ),
        (
            {"defaults": {"config": {"min.insync.replicas": 2}}, "topics": {"nudged": {"replication_factor": 1}}},
            "[topics.nudged]: min.insync.replicas 2 is more than the replication factor 1: "
            "no write with acks=all could ever succeed",
        ),
        ({"topics": {"nudged!": {}}}, "[topics.nudged!]: not a Kafka topic name (letters, digits, '.', '_' and '-')"),
        ({"topics": {"nudged": {"partitions": -1}}}, "[topics.nudged] partitions must be a positive integer, not -1"),
        ({"topics": []}, "[topics] must be a table of topics"),
    ],
)
def test_an_invalid_config_is_refused_naming_the_problem(raw, problem):
    with pytest.raises(TopicsConfigError) as refused:
        topics_config_parse(raw, path=Path("topics.toml"))

    assert str(refused.value) == f"topics config topics.toml is invalid:\n  {problem}"


def test_a_file_that_is_not_toml_is_refused_with_where_it_breaks(tmp_path):
    path = tmp_path / "topics.toml"
    path.write_text("[defaults\npartitions = 3\n")

    with pytest.raises(TopicsConfigError, match=r"topics config .*topics.toml: not valid TOML: .*\(at line 1"):
        topics_config_load(path=path)


def test_a_missing_file_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(TopicsConfigError) as refused:
        topics_config_load(path=tmp_path / "nope.toml")

    assert str(refused.value) == f"topics config {tmp_path / 'nope.toml'}: no such file (setting KAFKA_TOPICS_CONFIG)"


# --- The plan, without a broker -------------------------------------------------------------------

CONFIG = TopicsConfig(
    partitions=3, replication_factor=3, config={"retention.ms": "604800000", "min.insync.replicas": "2"}
)


def state(name: str, *, partitions: int = 3, replication: int = 3, config: dict[str, str] | None = None) -> TopicState:
    return TopicState(
        name=name,
        partitions=partitions,
        replication_factor=replication,
        config={"retention.ms": "604800000", "min.insync.replicas": "2", "segment.ms": "1", **(config or {})},
    )


def plan(*, brokers: int = 3, actual: dict[str, TopicState] | None = None, config: TopicsConfig = CONFIG, **options):
    return topics_plan_compute(
        config=config,
        registry_topics=["nudged", "xapi_statement"],
        prefix="p.",
        brokers=brokers,
        actual=actual or {},
        **options,
    )


def test_a_fresh_cluster_plans_every_topic_for_creation_as_configured():
    fresh = plan()

    assert [topic.name for topic in fresh.to_create] == ["p.nudged", "p.xapi_statement"]
    assert [(t.spec.partitions, t.spec.replication_factor, dict(t.spec.config)) for t in fresh.topics] == [
        (3, 3, {"retention.ms": "604800000", "min.insync.replicas": "2"})
    ] * 2
    assert fresh.warnings == ()
    assert not fresh.in_sync


def test_replication_and_min_insync_replicas_are_capped_on_a_small_cluster_with_warnings():
    small = plan(brokers=1)

    assert {
        (t.spec.partitions, t.spec.replication_factor, t.spec.config["min.insync.replicas"]) for t in small.topics
    } == {(3, 1, "1")}
    assert small.warnings == (
        "replication factor 3 capped at 1: the cluster has 1 broker",
        "min.insync.replicas 2 lowered to 1, the replication factor: "
        "above it, producers with acks=all could never write",
    )


def test_partitions_are_not_capped_at_the_broker_count():
    assert {topic.spec.partitions for topic in plan(brokers=1, partitions=12).topics} == {12}


def test_topics_as_configured_are_in_sync_whatever_configs_the_file_does_not_name():
    synced = plan(actual={"p.nudged": state("p.nudged"), "p.xapi_statement": state("p.xapi_statement")})

    assert synced.in_sync
    assert synced.to_create == synced.to_alter == []


def test_fewer_partitions_and_other_config_values_are_safe_changes():
    drifted = plan(actual={"p.nudged": state("p.nudged", partitions=2, config={"retention.ms": "1000"})}).topics[0]

    assert (drifted.partitions_to_add, drifted.partitions_excess, drifted.fixable, drifted.unfixable) == (
        1,
        0,
        True,
        False,
    )
    assert [(c.key, c.desired, c.actual) for c in drifted.config_changes] == [("retention.ms", "604800000", "1000")]


def test_more_partitions_and_another_replication_factor_cannot_be_fixed():
    drifted = plan(actual={"p.nudged": state("p.nudged", partitions=5, replication=2)}).topics[0]

    assert (drifted.partitions_to_add, drifted.partitions_excess) == (0, 2)
    assert drifted.replication_differs
    assert (drifted.fixable, drifted.unfixable, drifted.in_sync) == (False, True, False)


def test_a_config_the_broker_does_not_have_is_a_difference():
    drifted = plan(actual={"p.nudged": TopicState(name="p.nudged", partitions=3, replication_factor=3, config={})})

    assert [(c.key, c.actual) for c in drifted.topics[0].config_changes] == [
        ("min.insync.replicas", None),
        ("retention.ms", None),
    ]


def test_list_values_compare_without_spaces():
    config = TopicsConfig(config={"cleanup.policy": "compact, delete"})

    planned = plan(config=config, actual={"p.nudged": state("p.nudged", config={"cleanup.policy": "compact,delete"})})

    assert planned.topics[0].config_changes == ()


def test_min_insync_replicas_is_lowered_to_an_existing_topics_smaller_replication_factor():
    planned = plan(actual={"p.nudged": state("p.nudged", replication=1, config={"min.insync.replicas": "1"})})

    nudged, xapi = planned.topics
    assert (nudged.spec.config["min.insync.replicas"], nudged.config_changes, nudged.replication_differs) == (
        "1",
        (),
        True,
    )
    assert xapi.spec.config["min.insync.replicas"] == "2"
    assert planned.warnings == (
        "min.insync.replicas 2 lowered to 1, p.nudged's replication factor: "
        "above it, producers with acks=all could never write",
    )


def test_a_topics_own_values_beat_the_options_which_beat_the_configs_defaults():
    config = topics_config_parse({"topics": {"xapi_statement": {"partitions": 6, "replication_factor": 2}}})

    planned = plan(config=config, partitions=4, replication=1)

    assert [(t.spec.partitions, t.spec.replication_factor) for t in planned.topics] == [(4, 1), (6, 2)]


def test_a_configured_topic_no_active_major_uses_is_ignored_with_a_warning():
    config = topics_config_parse({"topics": {"retired_thing": {"partitions": 6}}})

    planned = plan(config=config)

    assert [topic.spec.registry_name for topic in planned.topics] == ["nudged", "xapi_statement"]
    assert planned.warnings == ("the topics config names 'retired_thing', the topic of no active major: ignored",)
