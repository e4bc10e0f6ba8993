//! The Python clients of the compatibility suite (compat/*.py) against the real `ferrite`
//! binary: confluent-kafka (librdkafka 2.x) and kafka-python. `scripts/test` installs them in
//! the repository's `.venv`.

mod support;

use support::{run_python_script, FerriteProcess};

#[test]
fn confluent_kafka_produces_consumes_and_lists_offsets() {
    let broker = FerriteProcess::start(&[]);
    let output = run_python_script("confluent_basics.py", &broker.bootstrap(), &broker);
    assert!(output.contains("confluent basics ok"), "{output}");
}

#[test]
fn kafka_python_produces_idempotently_and_consumes() {
    let broker = FerriteProcess::start(&[]);
    let output = run_python_script("kafka_python_basics.py", &broker.bootstrap(), &broker);
    assert!(output.contains("kafka-python basics ok"), "{output}");
}

#[test]
fn confluent_kafka_admin_creates_describes_alters_and_deletes() {
    let broker = FerriteProcess::start(&[]);
    let output = run_python_script("confluent_admin.py", &broker.bootstrap(), &broker);
    assert!(output.contains("confluent admin ok"), "{output}");
}
