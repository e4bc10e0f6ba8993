"""confluent-kafka (librdkafka) consumer groups against a Ferrite broker.

usage: confluent_groups.py SCENARIO BOOTSTRAP [ARGS...]

Scenarios (each exits non-zero with a message at the first thing that is wrong):
  three BOOTSTRAP       three consumers share a 6-partition topic (each partition assigned
                        exactly once); one leaves, one is killed (its session expires) and the
                        partitions move; commit, a new consumer resumes from the commit; the
                        AdminClient lists and describes the group, reads its offsets, deletes it.
  static BOOTSTRAP      a static member (group.instance.id) restarts and takes its partitions
                        back without a rebalance of the other member.
  cooperative BOOTSTRAP the cooperative-sticky assignor: a second member takes half the
                        partitions incrementally, then leaves and they come back.
  commit BOOTSTRAP TOPIC GROUP   produce 30 records to a new 3-partition topic, consume them
                        in GROUP, commit, close.
  resume BOOTSTRAP TOPIC GROUP   produce 10 more and check GROUP resumes after the commit.
  member BOOTSTRAP TOPIC GROUP   (helper) a member that polls until it is killed (60 s max).

The broker must allow short sessions (ferrite --group-min-session-timeout-ms 1000) and form
groups at once (--group-initial-rebalance-delay-ms 0).
"""

import subprocess
import sys
import time

from confluent_kafka import Consumer, ConsumerGroupState, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka import ConsumerGroupTopicPartitions

SCENARIO = sys.argv[1]
BOOTSTRAP = sys.argv[2]
WAIT_SECONDS = 40


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


ADMIN = AdminClient({"bootstrap.servers": BOOTSTRAP})


def admin():
    return ADMIN


def create_topic(topic, partitions):
    futures = admin().create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=30)


def produce(topic, first, count):
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5})
    failures = []
    for index in range(first, first + count):
        producer.produce(
            topic,
            key=f"key-{index}".encode(),
            value=f"value-{index}".encode(),
            on_delivery=lambda error, message: failures.append(error) if error else None,
        )
    check(producer.flush(30) == 0, "every record was delivered")
    check(not failures, f"delivery failures: {failures}")


def consumer(group, **settings):
    config = {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 3000,
        "heartbeat.interval.ms": 300,
        "topic.metadata.refresh.interval.ms": 1000,
    }
    config.update(settings)
    return Consumer(config)


class Pump:
    """Polls consumers round-robin, keeping what each received."""

    def __init__(self, *consumers):
        self.consumers = list(consumers)
        self.received = {id(c): [] for c in consumers}

    def add(self, consumer):
        self.consumers.append(consumer)
        self.received.setdefault(id(consumer), [])

    def remove(self, consumer):
        self.consumers.remove(consumer)

    def poll_once(self):
        for c in self.consumers:
            message = c.poll(0.05)
            if message is None:
                continue
            check(message.error() is None, f"consumer error: {message.error()}")
            self.received[id(c)].append(message)

    def until(self, condition, what):
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            self.poll_once()
            if condition():
                return
        check(False, f"timed out waiting until {what}")


def partitions_of(c):
    return sorted((tp.topic, tp.partition) for tp in c.assignment())


def describe(group):
    return admin().describe_consumer_groups([group])[group].result(timeout=10)


def described_assignments(group):
    description = describe(group)
    return description, [
        sorted((tp.topic, tp.partition) for tp in member.assignment.topic_partitions)
        for member in description.members
    ]


def covered_once(assignments, topic, partitions):
    flat = [tp for member in assignments for tp in member]
    return sorted(flat) == [(topic, p) for p in range(partitions)]


def stable_with(group, members, topic, partitions):
    description, assignments = described_assignments(group)
    return (
        description.state == ConsumerGroupState.STABLE
        and len(description.members) == members
        and all(assignments)
        and covered_once(assignments, topic, partitions)
    )


def scenario_three():
    topic, group = "groups-three", "group-three"
    create_topic(topic, 6)
    produce(topic, 0, 60)
    a = consumer(group, **{"client.id": "member-a"})
    b = consumer(group, **{"client.id": "member-b"})
    a.subscribe([topic])
    b.subscribe([topic])
    c = subprocess.Popen([sys.executable, __file__, "member", BOOTSTRAP, topic, group])
    try:
        pump = Pump(a, b)
        pump.until(lambda: stable_with(group, 3, topic, 6) and len(partitions_of(a)) == 2
                   and len(partitions_of(b)) == 2, "three members share six partitions, two each")
        _, assignments = described_assignments(group)
        check(sorted(len(member) for member in assignments) == [2, 2, 2],
              f"range gives two partitions each: {assignments}")

        # One member leaves (LeaveGroup): the other two take its partitions.
        pump.remove(b)
        b.close()
        pump.until(lambda: stable_with(group, 2, topic, 6), "two members share six partitions after a leave")

        # One member dies: its session expires and the survivor takes everything.
        c.kill()
        c.wait(10)
        pump.until(lambda: len(partitions_of(a)) == 6 and stable_with(group, 1, topic, 6),
                   "the survivor holds all six partitions after the session timeout")
    finally:
        if c.poll() is None:
            c.kill()

    # The survivor reads to the end of every partition (nothing was committed yet) and commits.
    def position_total(c):
        positions = c.position([TopicPartition(topic, p) for p in range(6)])
        return sum(tp.offset for tp in positions if tp.offset >= 0)

    pump.until(lambda: position_total(a) == 60, "a read to the end of all six partitions")
    a.commit(asynchronous=False)
    committed = a.committed([TopicPartition(topic, p) for p in range(6)], timeout=10)
    check(sum(tp.offset for tp in committed) == 60, f"commits cover 60 records: {committed}")
    a.close()

    listed = admin().list_consumer_groups().result(timeout=10)
    states = {listing.group_id: listing.state for listing in listed.valid}
    check(states.get(group) == ConsumerGroupState.EMPTY, f"the group is listed empty: {states}")

    # A new consumer of the group resumes after the commit: only the new records arrive.
    produce(topic, 60, 12)
    d = consumer(group)
    d.subscribe([topic])
    pump = Pump(d)
    pump.until(lambda: len(pump.received[id(d)]) >= 12, "the new consumer read the 12 new records")
    end = time.time() + 1.5
    while time.time() < end:
        pump.poll_once()
    values = sorted(m.value().decode() for m in pump.received[id(d)])
    check(values == sorted(f"value-{i}" for i in range(60, 72)), f"resumed exactly after the commit: {values}")
    d.commit(asynchronous=False)
    d.close()

    # Admin: the committed offsets, then delete the group.
    client = admin()
    offsets = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    check(sum(tp.offset for tp in offsets.topic_partitions) == 72, f"offsets cover 72 records: {offsets}")
    client.delete_consumer_groups([group])[group].result(timeout=10)
    listed = client.list_consumer_groups().result(timeout=10)
    check(group not in {listing.group_id for listing in listed.valid}, "the group is deleted")
    print("confluent groups three ok")


def scenario_static():
    topic, group = "groups-static", "group-static"
    create_topic(topic, 4)
    events = []
    settings = {"session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
    first = consumer(group, **{"group.instance.id": "static-1"}, **settings)
    other = consumer(group, **{"group.instance.id": "static-2"}, **settings)
    first.subscribe([topic])
    other.subscribe([topic], on_assign=lambda c, p: events.append(("assign", len(p))),
                    on_revoke=lambda c, p: events.append(("revoke", len(p))))
    pump = Pump(first, other)
    pump.until(lambda: stable_with(group, 2, topic, 4) and len(partitions_of(first)) == 2
               and len(partitions_of(other)) == 2, "two static members hold two partitions each")
    before = partitions_of(first)
    events_before = list(events)

    # The first member's process restarts: a static member sends no LeaveGroup on close.
    pump.remove(first)
    first.close()
    again = consumer(group, **{"group.instance.id": "static-1"}, **settings)
    again.subscribe([topic])
    pump.add(again)
    pump.until(lambda: partitions_of(again) == before, "the restarted static member has its partitions back")
    end = time.time() + 2
    while time.time() < end:
        pump.poll_once()
    check(events == events_before, f"the other member saw no rebalance: {events_before} -> {events}")
    check(stable_with(group, 2, topic, 4), "the group stayed stable with two members")
    again.close()
    other.close()
    print("confluent groups static ok")


def scenario_cooperative():
    topic, group = "groups-cooperative", "group-cooperative"
    create_topic(topic, 6)
    revoked = []
    settings = {"partition.assignment.strategy": "cooperative-sticky"}
    x = consumer(group, **settings)
    x.subscribe([topic], on_revoke=lambda c, p: revoked.append(len(p)))
    pump = Pump(x)
    pump.until(lambda: len(partitions_of(x)) == 6, "the first member holds all six")
    y = consumer(group, **settings)
    y.subscribe([topic])
    pump.add(y)
    pump.until(lambda: len(partitions_of(x)) == 3 and len(partitions_of(y)) == 3
               and stable_with(group, 2, topic, 6), "the members hold three each")
    check(revoked and max(revoked) == 3, f"x gave up only the partitions it lost: {revoked}")
    check(describe(group).partition_assignor == "cooperative-sticky", "the group uses cooperative-sticky")
    pump.remove(y)
    y.close()
    pump.until(lambda: len(partitions_of(x)) == 6, "the partitions come back after the leave")
    x.close()
    print("confluent groups cooperative ok")


def scenario_commit(topic, group):
    create_topic(topic, 3)
    produce(topic, 0, 30)
    c = consumer(group)
    c.subscribe([topic])
    pump = Pump(c)
    pump.until(lambda: len(pump.received[id(c)]) >= 30, "30 records consumed")
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    check(sum(tp.offset for tp in committed) == 30, f"commits cover 30 records: {committed}")
    c.close()
    print("confluent groups commit ok")


def scenario_resume(topic, group):
    produce(topic, 30, 10)
    c = consumer(group)
    committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=20)
    check(sum(tp.offset for tp in committed) == 30, f"the commits survived: {committed}")
    c.subscribe([topic])
    pump = Pump(c)
    pump.until(lambda: len(pump.received[id(c)]) >= 10, "10 new records consumed")
    end = time.time() + 1.5
    while time.time() < end:
        pump.poll_once()
    values = sorted(m.value().decode() for m in pump.received[id(c)])
    check(values == sorted(f"value-{i}" for i in range(30, 40)), f"resumed after the commit: {values}")
    c.close()
    print("confluent groups resume ok")


def scenario_member(topic, group):
    c = consumer(group, **{"client.id": "member-c"})
    c.subscribe([topic])
    end = time.time() + 60
    while time.time() < end:
        c.poll(0.1)


if SCENARIO == "three":
    scenario_three()
elif SCENARIO == "static":
    scenario_static()
elif SCENARIO == "cooperative":
    scenario_cooperative()
elif SCENARIO == "commit":
    scenario_commit(sys.argv[3], sys.argv[4])
elif SCENARIO == "resume":
    scenario_resume(sys.argv[3], sys.argv[4])
elif SCENARIO == "member":
    scenario_member(sys.argv[3], sys.argv[4])
else:
    check(False, f"unknown scenario {SCENARIO}")
