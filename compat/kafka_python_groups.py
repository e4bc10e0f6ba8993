"""kafka-python consumer groups against a Ferrite broker.

usage: kafka_python_groups.py BOOTSTRAP

A group consumer reads everything and commits; a new consumer of the group resumes after the
commit; KafkaAdminClient lists and describes the group, reads and deletes one partition's
committed offset (OffsetDelete), and deletes the group. Exits non-zero at the first thing
that is wrong.
"""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

BOOTSTRAP = sys.argv[1]
TOPIC = "kafka-python-groups"
GROUP = "kafka-python-group"
WAIT_SECONDS = 40


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def produce(first, count):
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    for index in range(first, first + count):
        producer.send(TOPIC, key=f"key-{index}".encode(), value=f"value-{index}".encode()).get(timeout=30)
    producer.close()


def consume(expected):
    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    values = []
    deadline = time.time() + WAIT_SECONDS
    while len(values) < expected and time.time() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            values.extend(record.value.decode() for record in records)
    # A moment more: nothing beyond what was expected may arrive.
    end = time.time() + 1.0
    while time.time() < end:
        for records in consumer.poll(timeout_ms=200).values():
            values.extend(record.value.decode() for record in records)
    consumer.commit()
    consumer.close()
    return sorted(values)


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)])
produce(0, 20)
values = consume(20)
check(values == sorted(f"value-{i}" for i in range(20)), f"the group read everything once: {values}")
produce(20, 5)
values = consume(5)
check(values == sorted(f"value-{i}" for i in range(20, 25)), f"resumed after the commit: {values}")

listed = {group["group_id"]: group["group_state"] for group in admin.list_groups()}
check(listed.get(GROUP) == "Empty", f"the group is listed as empty: {listed}")
described = admin.describe_groups([GROUP])[GROUP]
check(described["group_state"] == "Empty" and not described["members"], f"described: {described}")
offsets = admin.list_group_offsets(GROUP)[GROUP]
check(sum(meta.offset for meta in offsets.values()) == 25, f"offsets cover 25 records: {offsets}")
admin.delete_group_offsets(GROUP, [TopicPartition(TOPIC, 0)])
offsets = admin.list_group_offsets(GROUP)[GROUP]
check(TopicPartition(TOPIC, 0) not in offsets or offsets[TopicPartition(TOPIC, 0)].offset < 0,
      f"partition 0's offset is deleted: {offsets}")
check(offsets.get(TopicPartition(TOPIC, 1)) is not None and offsets[TopicPartition(TOPIC, 1)].offset > 0,
      f"partition 1's offset remains: {offsets}")
admin.delete_groups([GROUP])
described = admin.describe_groups([GROUP])[GROUP]
check(described["group_state"] == "Dead", f"the group is gone: {described}")
admin.close()
print("kafka-python groups ok")
