"""An independent producer for cross-checking ferrite-bench: confluent-kafka (librdkafka).

Open loop, like ferrite-bench: message n is meant to be sent at start + n / rate; its latency
is the time from that intended send time to its delivery report. The messages are 1 KiB of
random bytes. Prints one JSON object: throughput and latency percentiles in microseconds.

usage: confluent_producer.py BOOTSTRAP TOPIC RATE SECONDS [WARMUP_SECONDS]
The topic is created (one partition) when missing. librdkafka settings match the bench's 1 KiB workloads: acks=1,
linger.ms=1, batch.size=262144, no compression.
"""

import json
import os
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def client_version():
    import confluent_kafka

    version = confluent_kafka.version()
    library = confluent_kafka.libversion()
    version = version[0] if isinstance(version, tuple) else version
    library = library[0] if isinstance(library, tuple) else library
    return f"{version} (librdkafka {library})"


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[index]


def main():
    bootstrap, topic, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    warmup = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
    if not (0 < rate <= 1e6 and 0 < seconds <= 60 and 0 <= warmup <= 60):
        sys.exit("rate must be in (0, 1e6], seconds in (0, 60], warm-up in [0, 60]")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        try:
            future.result(30)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "1",
        "linger.ms": 1,
        "batch.size": 262144,
        "compression.type": "none",
        "queue.buffering.max.messages": 2_000_000,
        "queue.buffering.max.kbytes": 4_000_000,
    })
    value = os.urandom(1024)
    latencies_us = []
    errors = [0]
    acked = [0]
    start = time.perf_counter() + 0.2
    end = start + warmup + seconds
    measured_from = start + warmup

    def on_delivery(intended, error, _message):
        now = time.perf_counter()
        if error is not None:
            errors[0] += 1
            return
        if intended >= measured_from:
            acked[0] += 1
            latencies_us.append((now - intended) * 1e6)

    n = 0
    interval = 1.0 / rate
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        # Send every message whose intended time has come, each stamped with it.
        while True:
            intended = start + n * interval
            if intended > now or intended >= end:
                break
            producer.produce(topic, value, callback=lambda e, m, t=intended: on_delivery(t, e, m))
            n += 1
        producer.poll(0)
        sleep = start + n * interval - time.perf_counter()
        if sleep > 0:
            time.sleep(min(sleep, 0.001))
    remaining = producer.flush(30)
    latencies_us.sort()
    print(json.dumps({
        "client": "confluent-kafka " + client_version(),
        "offered_messages_per_second": rate,
        "measured_messages_per_second": acked[0] / seconds,
        "sent": n,
        "errors": errors[0],
        "undelivered": remaining,
        "p50_us": percentile(latencies_us, 50),
        "p90_us": percentile(latencies_us, 90),
        "p99_us": percentile(latencies_us, 99),
        "p999_us": percentile(latencies_us, 99.9),
        "max_us": latencies_us[-1] if latencies_us else 0.0,
    }))


if __name__ == "__main__":
    main()
