//! kcat (librdkafka) against the real `ferrite` binary: produce and consume with keys, headers
//! and every compression codec, consume from chosen offsets, list metadata.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{run_with_timeout, FerriteProcess, Output};

const KCAT_TIMEOUT: Duration = Duration::from_secs(60);

fn kcat(broker: &FerriteProcess, arguments: &[&str], stdin: &str) -> Output {
    let mut command = Command::new("kcat");
    command.arg("-b").arg(broker.bootstrap()).args(arguments);
    let output = run_with_timeout(command, stdin.as_bytes(), KCAT_TIMEOUT);
    assert!(
        output.success,
        "kcat {arguments:?} failed\nstdout:\n{}\nstderr:\n{}\nbroker log:\n{}",
        output.stdout,
        output.stderr,
        broker.stderr()
    );
    output
}

#[test]
fn every_codec_round_trips_keys_headers_and_values() {
    let broker = FerriteProcess::start(&[]);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let input: String = (0..200)
            .map(|index| format!("key{index}:value {index} of {codec}\n"))
            .collect();
        kcat(
            &broker,
            &[
                "-P",
                "-t",
                &topic,
                "-K:",
                "-z",
                codec,
                "-H",
                "origin=kcat",
                "-H",
                "empty=",
            ],
            &input,
        );
        let output = kcat(
            &broker,
            &["-C", "-t", &topic, "-e", "-q", "-f", "%o|%k|%s|%h\\n"],
            "",
        );
        let lines: Vec<&str> = output.stdout.lines().collect();
        assert_eq!(lines.len(), 200, "codec {codec}: {}", output.stdout);
        for (index, line) in lines.iter().enumerate() {
            assert_eq!(
                *line,
                format!("{index}|key{index}|value {index} of {codec}|origin=kcat,empty="),
                "codec {codec}"
            );
        }
    }
}

#[test]
fn consumes_from_chosen_offsets_and_lists_metadata() {
    let broker = FerriteProcess::start(&[]);
    let input: String = (0..10).map(|index| format!("m{index}\n")).collect();
    kcat(&broker, &["-P", "-t", "offsets"], &input);

    let from = |offset: &str| {
        kcat(
            &broker,
            &[
                "-C", "-t", "offsets", "-p", "0", "-o", offset, "-e", "-q", "-f", "%s\\n",
            ],
            "",
        )
        .stdout
    };
    assert_eq!(from("beginning").lines().count(), 10);
    assert_eq!(from("7"), "m7\nm8\nm9\n");
    assert_eq!(from("-2"), "m8\nm9\n");
    assert_eq!(from("end"), "");

    let metadata = kcat(&broker, &["-L", "-t", "offsets"], "").stdout;
    assert!(metadata.contains("topic \"offsets\""), "{metadata}");
    assert!(metadata.contains("partition 0, leader 0"), "{metadata}");
    let everything = kcat(&broker, &["-L", "-J"], "").stdout;
    assert!(everything.contains("\"topic\":\"offsets\""), "{everything}");
}

#[test]
fn balanced_consumer_reads_everything_once_and_resumes_from_its_commit() {
    let mut flags = support::GROUP_TEST_FLAGS.to_vec();
    flags.extend(["--default-partitions", "4"]);
    let broker = FerriteProcess::start(&flags);
    let input: String = (0..40)
        .map(|index| format!("k{index}:m{index}\n"))
        .collect();
    kcat(&broker, &["-P", "-t", "balanced", "-K:"], &input);
    let group_read = || {
        let output = kcat(
            &broker,
            &[
                "-G",
                "kcat-group",
                "balanced",
                "-X",
                "auto.offset.reset=earliest",
                "-e",
                "-q",
                "-f",
                "%s\\n",
            ],
            "",
        );
        let mut values: Vec<String> = output.stdout.lines().map(str::to_owned).collect();
        values.sort();
        values
    };
    let mut expected: Vec<String> = (0..40).map(|index| format!("m{index}")).collect();
    expected.sort();
    assert_eq!(
        group_read(),
        expected,
        "every record once, over four partitions"
    );
    // kcat commits when it leaves: the next member of the group starts after the commit.
    let more: String = (40..45)
        .map(|index| format!("k{index}:m{index}\n"))
        .collect();
    kcat(&broker, &["-P", "-t", "balanced", "-K:"], &more);
    let expected: Vec<String> = (40..45).map(|index| format!("m{index}")).collect();
    assert_eq!(group_read(), expected, "only the records after the commit");
}
