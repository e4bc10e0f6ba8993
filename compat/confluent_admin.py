"""confluent-kafka AdminClient against a Ferrite broker: create, describe, alter and delete
topics and configs, add partitions, describe the cluster.

usage: confluent_admin.py BOOTSTRAP
"""

import sys

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

BOOTSTRAP = sys.argv[1]
TIMEOUT = 15


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def error_of(future):
    try:
        future.result(timeout=TIMEOUT)
        return None
    except KafkaException as error:
        return error.args[0]


def topic_configs(admin, topic):
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([resource])[resource].result(timeout=TIMEOUT)


def main():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})

    # Create: plain, with configs, validate-only, and refusals.
    futures = admin.create_topics([
        NewTopic("admin-plain", num_partitions=3, replication_factor=1),
        NewTopic("admin-configured", num_partitions=1, replication_factor=1,
                 config={"retention.ms": "60000", "cleanup.policy": "delete"}),
    ], operation_timeout=TIMEOUT)
    for topic, future in futures.items():
        check(error_of(future) is None, f"create {topic}: {error_of(future)}")
    dry = admin.create_topics([NewTopic("admin-dry-run", num_partitions=1)], validate_only=True)
    check(error_of(dry["admin-dry-run"]) is None, "validate-only create succeeds")
    exists = admin.create_topics([NewTopic("admin-plain", num_partitions=1)])["admin-plain"]
    check(error_of(exists).code() == KafkaError.TOPIC_ALREADY_EXISTS, "duplicate create is refused")
    bad_config = admin.create_topics([NewTopic("admin-bad", 1, config={"retention.ms": "soon"})])["admin-bad"]
    check(error_of(bad_config).code() == KafkaError.INVALID_CONFIG, "bad config is refused")
    replicated = admin.create_topics([NewTopic("admin-replicated", 1, replication_factor=3)])["admin-replicated"]
    check(error_of(replicated).code() == KafkaError.INVALID_REPLICATION_FACTOR, "rf 3 is refused")

    topics = admin.list_topics(timeout=TIMEOUT).topics
    check("admin-plain" in topics and len(topics["admin-plain"].partitions) == 3, "admin-plain has 3 partitions")
    check("admin-dry-run" not in topics, "validate-only created nothing")

    # Describe configs: overrides and defaults.
    configs = topic_configs(admin, "admin-configured")
    check(configs["retention.ms"].value == "60000", "retention.ms override")
    check(configs["retention.ms"].source == 1, "retention.ms comes from the topic")
    check(configs["segment.bytes"].is_default, "segment.bytes is a default")

    # Incremental alter: set one, delete the other.
    resource = ConfigResource(ConfigResource.Type.TOPIC, "admin-configured", incremental_configs=[
        ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    result = admin.incremental_alter_configs([resource])[resource]
    check(error_of(result) is None, f"incremental alter: {error_of(result)}")
    configs = topic_configs(admin, "admin-configured")
    check(configs["segment.bytes"].value == "1048576", "segment.bytes set")
    check(configs["retention.ms"].is_default, "retention.ms back to its default")
    bad = ConfigResource(ConfigResource.Type.TOPIC, "admin-configured", incremental_configs=[
        ConfigEntry("segment.bytes", "-5", incremental_operation=AlterConfigOpType.SET),
    ])
    check(error_of(admin.incremental_alter_configs([bad])[bad]).code() == KafkaError.INVALID_CONFIG,
          "a bad value is refused")

    # Non-incremental alter replaces the whole set.
    whole = ConfigResource(ConfigResource.Type.TOPIC, "admin-configured", set_config={"retention.bytes": "1000000"})
    check(error_of(admin.alter_configs([whole])[whole]) is None, "alter configs")
    configs = topic_configs(admin, "admin-configured")
    check(configs["retention.bytes"].value == "1000000", "retention.bytes set")
    check(configs["segment.bytes"].is_default, "segment.bytes reset by the full replace")

    # Broker configs are described, read-only.
    broker = ConfigResource(ConfigResource.Type.BROKER, "0")
    broker_configs = admin.describe_configs([broker])[broker].result(timeout=TIMEOUT)
    check(broker_configs["auto.create.topics.enable"].is_read_only, "broker configs are read-only")

    # Partitions: more is fine, fewer is refused.
    grow = admin.create_partitions([NewPartitions("admin-plain", 5)])["admin-plain"]
    check(error_of(grow) is None, f"create partitions: {error_of(grow)}")
    check(len(admin.list_topics(timeout=TIMEOUT).topics["admin-plain"].partitions) == 5, "5 partitions now")
    shrink = admin.create_partitions([NewPartitions("admin-plain", 2)])["admin-plain"]
    check(error_of(shrink).code() == KafkaError.INVALID_PARTITIONS, "fewer partitions refused")

    # The cluster.
    cluster = admin.describe_cluster().result(timeout=TIMEOUT)
    check(cluster.controller is not None and len(cluster.nodes) == 1, f"describe cluster: {cluster}")

    # Delete.
    for topic, future in admin.delete_topics(["admin-plain", "admin-configured"], operation_timeout=TIMEOUT).items():
        check(error_of(future) is None, f"delete {topic}: {error_of(future)}")
    missing = admin.delete_topics(["admin-never-was"])["admin-never-was"]
    check(error_of(missing).code() == KafkaError.UNKNOWN_TOPIC_OR_PART, "deleting a missing topic is refused")
    topics = admin.list_topics(timeout=TIMEOUT).topics
    check("admin-plain" not in topics and "admin-configured" not in topics, "topics are gone")
    print("confluent admin ok")


if __name__ == "__main__":
    main()
