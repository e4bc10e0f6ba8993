//! Consumer groups with real clients against the real `ferrite` binary (compat/*groups.py):
//! confluent-kafka groups of three with a leave and a kill, static membership, the
//! cooperative-sticky assignor, commits that survive a broker crash, kafka-python's group
//! consumer and admin client. kcat's balanced consumer is in compat_kcat.

mod support;

use support::{run_python_script_with, FerriteProcess, GROUP_TEST_FLAGS};

#[test]
fn confluent_group_of_three_shares_partitions_and_survives_a_leave_and_a_kill() {
    let broker = FerriteProcess::start(GROUP_TEST_FLAGS);
    let output = run_python_script_with(
        "confluent_groups.py",
        &["three", &broker.bootstrap()],
        &broker,
    );
    assert!(output.contains("confluent groups three ok"), "{output}");
}

#[test]
fn confluent_static_member_rejoins_without_a_rebalance() {
    let broker = FerriteProcess::start(GROUP_TEST_FLAGS);
    let output = run_python_script_with(
        "confluent_groups.py",
        &["static", &broker.bootstrap()],
        &broker,
    );
    assert!(output.contains("confluent groups static ok"), "{output}");
}

#[test]
fn confluent_cooperative_sticky_moves_partitions_incrementally() {
    let broker = FerriteProcess::start(GROUP_TEST_FLAGS);
    let output = run_python_script_with(
        "confluent_groups.py",
        &["cooperative", &broker.bootstrap()],
        &broker,
    );
    assert!(
        output.contains("confluent groups cooperative ok"),
        "{output}"
    );
}

#[test]
fn committed_offsets_survive_a_broker_crash_and_a_clean_restart() {
    let mut broker = FerriteProcess::start(GROUP_TEST_FLAGS);
    let bootstrap = broker.bootstrap();
    let output = run_python_script_with(
        "confluent_groups.py",
        &["commit", &bootstrap, "crash-topic", "crash-group"],
        &broker,
    );
    assert!(output.contains("commit ok"), "{output}");
    // SIGKILL: the commit was durable before it was answered.
    broker.restart();
    let output = run_python_script_with(
        "confluent_groups.py",
        &["resume", &bootstrap, "crash-topic", "crash-group"],
        &broker,
    );
    assert!(output.contains("resume ok"), "{output}");

    let output = run_python_script_with(
        "confluent_groups.py",
        &["commit", &bootstrap, "clean-topic", "clean-group"],
        &broker,
    );
    assert!(output.contains("commit ok"), "{output}");
    let status = broker.terminate().expect("ferrite exits on SIGTERM");
    assert!(status.success(), "clean exit: {status:?}");
    broker.restart();
    let output = run_python_script_with(
        "confluent_groups.py",
        &["resume", &bootstrap, "clean-topic", "clean-group"],
        &broker,
    );
    assert!(output.contains("resume ok"), "{output}");
}

#[test]
fn kafka_python_group_consumer_and_admin_client() {
    let broker = FerriteProcess::start(GROUP_TEST_FLAGS);
    let output = run_python_script_with("kafka_python_groups.py", &[&broker.bootstrap()], &broker);
    assert!(output.contains("kafka-python groups ok"), "{output}");
}
