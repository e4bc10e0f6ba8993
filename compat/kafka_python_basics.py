"""kafka-python basics against a Ferrite broker.

usage: kafka_python_basics.py BOOTSTRAP

KafkaProducer with its default settings (kafka-python 3 opens with ApiVersions v4, relies on
the UNSUPPORTED_VERSION fallback, and enables idempotence by default), then KafkaConsumer by
assignment: seek to beginning, end offsets, offsets_for_times. Exits non-zero with a message at
the first thing that is wrong.
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

BOOTSTRAP = sys.argv[1]
TOPIC = "kafka-python-basics"
COUNT = 200


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def main():
    base_ms = int(time.time() * 1000) - 100_000
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    futures = [
        producer.send(
            TOPIC,
            key=f"k{index}".encode(),
            value=f"v{index}".encode(),
            headers=[("index", str(index).encode())],
            partition=0,
            timestamp_ms=base_ms + index,
        )
        for index in range(COUNT)
    ]
    offsets = sorted(future.get(timeout=30).offset for future in futures)
    producer.close(timeout=10)
    check(offsets == list(range(COUNT)), f"offsets not 0..{COUNT - 1}: {offsets[:5]}")

    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, consumer_timeout_ms=5000)
    partition = TopicPartition(TOPIC, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    received = []
    deadline = time.monotonic() + 30
    while len(received) < COUNT and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            received.extend(records)
    check(len(received) == COUNT, f"consumed {len(received)} of {COUNT}")
    for index, record in enumerate(received):
        check(record.offset == index, f"offset {record.offset} at {index}")
        check(record.key == f"k{index}".encode() and record.value == f"v{index}".encode(), f"record {index}")
        check(record.timestamp == base_ms + index, f"timestamp at {index}")
        check(list(record.headers) == [("index", str(index).encode())], f"headers at {index}")

    check(consumer.end_offsets([partition])[partition] == COUNT, "end offset")
    check(consumer.beginning_offsets([partition])[partition] == 0, "beginning offset")
    found = consumer.offsets_for_times({partition: base_ms + 50})[partition]
    check(found is not None and found.offset == 50, f"offsets_for_times gave {found}")
    check(found.timestamp == base_ms + 50, f"offsets_for_times timestamp {found}")
    consumer.seek(partition, 150)
    record = next(iter(consumer))
    check(record.offset == 150, f"seek to 150 read {record.offset}")
    consumer.close()

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic("kafka-python-admin", num_partitions=2, replication_factor=1,
                                  topic_configs={"retention.ms": "120000"})])
    check("kafka-python-admin" in admin.list_topics(), "created topic is listed")
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kafka-python-admin")])
    retention = described["topic"]["kafka-python-admin"]["retention.ms"]
    check(retention["value"] == "120000", f"retention.ms described: {retention}")
    check(retention["config_source"] == "DYNAMIC_TOPIC_CONFIG", f"retention.ms source: {retention}")
    admin.delete_topics(["kafka-python-admin"])
    check("kafka-python-admin" not in admin.list_topics(), "deleted topic is gone")
    admin.close()
    print("kafka-python basics ok")


if __name__ == "__main__":
    main()
