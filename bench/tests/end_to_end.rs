//! A short, bounded run of the real bench against an in-process Ferrite broker: every
//! produced message must be acknowledged and consumed exactly once.

use bench::runner::{default_cores, run, RunOptions};
use bench::workload::{KeyMode, Rate, SizeSpec, Workload};
use broker::testing::TestBroker;

fn options(broker: &TestBroker) -> RunOptions {
    RunOptions {
        bootstrap: broker.bootstrap(),
        cores: default_cores(),
        io_memory_bytes: 64 * 1024,
        progress: false,
    }
}

#[test]
fn every_message_is_acknowledged_and_consumed_exactly_once() {
    let broker = TestBroker::start();
    let mut workload = Workload {
        name: "e2e-test".into(),
        ..Workload::default()
    };
    workload.topics.partitions = 3;
    workload.message.size = SizeSpec::Uniform { min: 20, max: 600 };
    workload.message.keys = KeyMode::RoundRobin;
    workload.producer.count = 2;
    workload.producer.batch_bytes = 4096;
    workload.producer.rate = Rate::MessagesPerSecond(2000.0);
    workload.consumer.count = 2;
    workload.consumer.subscriptions = 2;
    workload.run.warmup_seconds = 0.2;
    workload.run.duration_seconds = 1.0;
    let report = run(&workload, &options(&broker)).expect("the run completes");

    // 2000 msg/s for 1.2 s, give or take the schedule's last step.
    let acked = report.delivery.acknowledged;
    assert!((2300..=2500).contains(&acked), "acknowledged {acked}");
    assert_eq!(report.totals.sent_messages, acked);
    assert_eq!(report.totals.produce_errors, 0, "{:?}", report.errors);
    // Two subscriptions: every message read twice, once by each.
    assert_eq!(report.delivery.subscriptions, 2);
    assert_eq!(report.delivery.consumed, 2 * acked);
    assert_eq!(report.delivery.duplicates, 0);
    assert_eq!(report.delivery.missing, 0);
    assert_eq!(report.delivery.unconsumed, 0);
    assert!(report.delivery.exactly_once);
    assert_eq!(report.error_count(), 0, "{}", report.summary_table());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Only the measured second is in the histograms.
    let measured = report.produce_latency.count;
    assert!((1900..=2100).contains(&measured), "measured {measured}");
    assert!(report.produce_latency.p50_us > 0.0);
    assert!(report.produce_latency.p99_us >= report.produce_latency.p50_us);
    assert!(report.end_to_end_latency.count > 0);
    assert!(!report.series.is_empty());
    let series_acked: u64 = report.series.iter().map(|p| p.acked_messages).sum();
    assert_eq!(series_acked, acked);
    assert_eq!(report.topics.len(), 1);
    assert!(report
        .broker
        .api_versions
        .iter()
        .any(|v| v.starts_with("Produce")));
}

#[test]
fn catch_up_consumers_read_the_backlog_after_the_producers() {
    let broker = TestBroker::start();
    let mut workload = Workload {
        name: "catch-up-test".into(),
        ..Workload::default()
    };
    workload.topics.partitions = 2;
    workload.message.size = SizeSpec::Fixed(100);
    workload.producer.acks = -1;
    workload.producer.rate = Rate::Unthrottled;
    workload.producer.batch_bytes = 16 * 1024;
    workload.consumer.mode = bench::workload::ConsumerMode::CatchUp;
    workload.run.warmup_seconds = 0.0;
    workload.run.duration_seconds = 0.5;
    let report = run(&workload, &options(&broker)).expect("the run completes");
    assert!(report.delivery.acknowledged > 0);
    assert!(report.delivery.exactly_once, "{}", report.summary_table());
    assert_eq!(report.consume.messages, report.delivery.acknowledged);
    assert!(report.consume.seconds > 0.0);
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = RunOptions {
        bootstrap: format!("127.0.0.1:{port}"),
        cores: default_cores(),
        io_memory_bytes: 64 * 1024,
        progress: false,
    };
    let error = run(&Workload::default(), &options).unwrap_err();
    assert!(
        format!("{error:#}").contains("cannot reach the broker"),
        "{error:#}"
    );
}

#[test]
fn compressed_batches_with_random_keys_arrive_exactly_once() {
    let broker = TestBroker::start();
    let mut workload = Workload {
        name: "lz4-test".into(),
        ..Workload::default()
    };
    workload.topics.count = 2;
    workload.topics.partitions = 2;
    workload.message.size = SizeSpec::Fixed(300);
    workload.message.keys = KeyMode::Random;
    workload.producer.compression = bench::workload::CompressionName::Lz4;
    workload.producer.connections = 2;
    workload.producer.rate = Rate::MegabytesPerSecond(0.6);
    workload.run.warmup_seconds = 0.0;
    workload.run.duration_seconds = 0.8;
    let report = run(&workload, &options(&broker)).expect("the run completes");
    // 0.6 MB/s of 300-byte values is 2000 msg/s.
    let acked = report.delivery.acknowledged;
    assert!((1500..=1700).contains(&acked), "acknowledged {acked}");
    assert!(report.delivery.exactly_once, "{}", report.summary_table());
    assert_eq!(report.topics.len(), 2);
}

#[test]
fn a_broker_that_goes_away_is_counted_as_errors_not_hidden() {
    let mut broker = TestBroker::start();
    let mut workload = Workload {
        name: "broker-stops".into(),
        ..Workload::default()
    };
    workload.producer.rate = Rate::MessagesPerSecond(2000.0);
    workload.producer.batch_bytes = 4096;
    workload.consumer.drain_seconds_max = 2.0;
    workload.run.warmup_seconds = 0.0;
    workload.run.duration_seconds = 2.0;
    let options = options(&broker);
    let started = std::time::Instant::now();
    let running = std::thread::spawn(move || run(&workload, &options));
    std::thread::sleep(std::time::Duration::from_millis(800));
    broker.stop();
    let report = running
        .join()
        .expect("the run does not panic")
        .expect("a run that lost its broker still reports");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "bounded: {:?}",
        started.elapsed()
    );
    assert!(
        report.delivery.acknowledged > 0,
        "some messages got through first"
    );
    assert!(
        report.totals.produce_errors > 0,
        "{}",
        report.summary_table()
    );
    assert!(!report.errors.is_empty());
    assert!(report.error_count() > 0);
    assert!(!report.delivery.exactly_once);
}
