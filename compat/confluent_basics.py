"""confluent-kafka (librdkafka) basics against a Ferrite broker.

usage: confluent_basics.py BOOTSTRAP

Produces with acks=all (plain and idempotent) and checks every delivery report; consumes by
assignment from earliest, latest and a timestamp; reads watermarks and lists offsets. Exits
non-zero with a message at the first thing that is wrong.
"""

import sys
import time

from confluent_kafka import Consumer, KafkaException, OFFSET_BEGINNING, OFFSET_END, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

BOOTSTRAP = sys.argv[1]
DEADLINE_SECONDS = 30


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def produce(topic, count, idempotent, first_timestamp_ms):
    producer = Producer({
        "bootstrap.servers": BOOTSTRAP,
        "acks": "all",
        "enable.idempotence": idempotent,
        "linger.ms": 5,
    })
    reports = []

    def on_delivery(error, message):
        reports.append((error, message.offset() if error is None else None))

    for index in range(count):
        producer.produce(
            topic,
            key=f"key-{index}".encode(),
            value=f"value-{index}".encode(),
            headers=[("index", str(index).encode())],
            timestamp=first_timestamp_ms + index,
            on_delivery=on_delivery,
        )
        producer.poll(0)
    remaining = producer.flush(DEADLINE_SECONDS)
    check(remaining == 0, f"{remaining} messages not delivered to {topic}")
    errors = [error for error, _ in reports if error is not None]
    check(not errors, f"delivery errors on {topic}: {errors[:3]}")
    offsets = sorted(offset for _, offset in reports)
    return offsets


def consume(topic, start_offset, count):
    consumer = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": "compat-assign-only",
        "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(topic, 0, start_offset)])
    messages = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(messages) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        check(message.error() is None, f"consume error: {message.error()}")
        messages.append(message)
    consumer.close()
    return messages


def main():
    base_ms = int(time.time() * 1000) - 100_000

    for idempotent in (False, True):
        topic = f"confluent-{'idempotent' if idempotent else 'plain'}"
        offsets = produce(topic, 300, idempotent, base_ms)
        check(offsets == list(range(300)), f"{topic}: offsets not 0..299: {offsets[:5]}...")
        messages = consume(topic, OFFSET_BEGINNING, 300)
        check(len(messages) == 300, f"{topic}: consumed {len(messages)} of 300")
        for index, message in enumerate(messages):
            check(message.offset() == index, f"{topic}: offset {message.offset()} at {index}")
            check(message.key() == f"key-{index}".encode(), f"{topic}: key at {index}")
            check(message.value() == f"value-{index}".encode(), f"{topic}: value at {index}")
            check(message.headers() == [("index", str(index).encode())], f"{topic}: headers at {index}")
            check(message.timestamp()[1] == base_ms + index, f"{topic}: timestamp at {index}")

    topic = "confluent-plain"
    # Watermarks.
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "compat-watermarks"})
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    check((low, high) == (0, 300), f"watermarks {(low, high)}")

    # offsets_for_times: the first record at or after the timestamp.
    found = consumer.offsets_for_times([TopicPartition(topic, 0, base_ms + 150)], timeout=10)
    check(found[0].error is None, f"offsets_for_times error {found[0].error}")
    # Batches hold many records; the answer is the exact record, as Kafka gives it.
    check(found[0].offset == 150, f"offsets_for_times gave {found[0].offset} for record 150")
    future = consumer.offsets_for_times([TopicPartition(topic, 0, base_ms + 10_000)], timeout=10)
    check(future[0].offset in (-1, 300), f"offsets_for_times past the end gave {future[0].offset}")
    consumer.close()

    # Consume from a timestamp: the consumer skips records before the found offset's target.
    messages = consume(topic, found[0].offset, 300 - found[0].offset)
    check(messages[-1].offset() == 299, "consume from timestamp reaches the end")

    # Consume from latest: only records produced after the assignment arrive.
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "compat-latest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    consumer.poll(1.0)
    produce(topic, 5, False, base_ms + 1000)
    latest = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(latest) < 5 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            latest.append(message.offset())
    consumer.close()
    check(latest == [300, 301, 302, 303, 304], f"consume from latest got {latest}")

    # AdminClient.list_offsets: earliest, latest, max timestamp.
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    partition = TopicPartition(topic, 0)
    for spec, expected in ((OffsetSpec.earliest(), 0), (OffsetSpec.latest(), 305)):
        result = admin.list_offsets({partition: spec}, request_timeout=10)[partition].result()
        check(result.offset == expected, f"list_offsets {spec} gave {result.offset}, expected {expected}")

    # A position with a leader epoch is validated against the broker (OffsetForLeaderEpoch)
    # before the consumer reads from it.
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "compat-epoch", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 200, leader_epoch=0)])
    message = None
    deadline = time.monotonic() + DEADLINE_SECONDS
    while message is None and time.monotonic() < deadline:
        candidate = consumer.poll(0.5)
        if candidate is not None:
            check(candidate.error() is None, f"consume with a leader epoch: {candidate.error()}")
            message = candidate
    check(message is not None and message.offset() == 200, "consume from a validated position")
    check(message.leader_epoch() == 0, f"leader epoch of a record: {message.leader_epoch()}")
    consumer.close()

    # DeleteRecords: the log start moves, and reading below it is out of range.
    deleted = admin.delete_records([TopicPartition(topic, 0, 100)])
    low = deleted[TopicPartition(topic, 0, 100)].result(timeout=10)
    check(low.low_watermark == 100, f"delete_records low watermark {low.low_watermark}")
    earliest = admin.list_offsets({partition: OffsetSpec.earliest()}, request_timeout=10)[partition].result()
    check(earliest.offset == 100, f"earliest after delete_records: {earliest.offset}")
    print("confluent basics ok")


if __name__ == "__main__":
    try:
        main()
    except KafkaException as error:
        check(False, f"client error: {error}")
