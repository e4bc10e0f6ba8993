//! `ferritectl log dump` and `log verify`: a data directory read offline through
//! `storage::inspect`.

use std::path::{Path, PathBuf};

use serde_json::json;
use storage::inspect::{list_segments, scan_data_file, verify_partition, DataEnd};

use super::Result;
use crate::cli::{Format, LogCommand};
use crate::output;

/// Largest batch accepted while reading (Kafka's message.max.bytes is far below).
const BATCH_BYTES_MAX: usize = 64 << 20;

pub fn run(format: Format, command: &LogCommand) -> Result<()> {
    match command {
        LogCommand::Dump { path, records } => {
            for partition in partition_directories(path)? {
                dump(format, &partition, *records)?;
            }
            Ok(())
        }
        LogCommand::Verify { path } => {
            let mut rows = Vec::new();
            for partition in partition_directories(path)? {
                let summary = verify_partition(&partition, BATCH_BYTES_MAX)
                    .map_err(|problem| format!("verify failed: {problem}"))?;
                rows.push(vec![
                    json!(partition.display().to_string()),
                    json!(summary.segments),
                    json!(summary.batches),
                    json!(summary.records),
                    json!(summary.bytes),
                    json!(summary.next_offset),
                ]);
            }
            output::table(
                format,
                &[
                    "partition",
                    "segments",
                    "batches",
                    "records",
                    "bytes",
                    "next_offset",
                ],
                &rows,
            );
            Ok(())
        }
    }
}

/// `path` itself if it holds segments, else every partition directory of a data directory
/// (`<data>/topics/<topic>-<partition>`).
fn partition_directories(path: &Path) -> Result<Vec<PathBuf>> {
    let segments =
        list_segments(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !segments.is_empty() {
        return Ok(vec![path.to_path_buf()]);
    }
    let topics = path.join("topics");
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&topics) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "{} holds no segments and no topics/ directory: give a partition directory or a data directory",
            path.display()
        ));
    }
    Ok(found)
}

fn dump(format: Format, partition: &Path, with_records: bool) -> Result<()> {
    let segments = list_segments(partition)
        .map_err(|e| format!("cannot read {}: {e}", partition.display()))?;
    for segment in segments {
        if format == Format::Text {
            println!(
                "segment {} base_offset={} offset_index={} time_index={}",
                segment.data.display(),
                segment.base_offset.0,
                segment.offset_index.is_some(),
                segment.time_index.is_some()
            );
        }
        let mut failure = None;
        let end = scan_data_file(&segment.data, BATCH_BYTES_MAX, |found| {
            let header = found.header();
            let codec = found.batch.compression().name();
            let mut record_lines = Vec::new();
            if with_records {
                match found.batch.records(BATCH_BYTES_MAX) {
                    Ok(records) => {
                        for record in records {
                            match record {
                                Ok(record) => record_lines.push(json!({
                                    "offset": record.offset(),
                                    "timestamp": record.timestamp(),
                                    "key": record.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                                    "value": record.value().map(|v| String::from_utf8_lossy(v).into_owned()),
                                    "headers": record.headers().len(),
                                })),
                                Err(error) => failure = Some(format!("position {}: {error}", found.position)),
                            }
                        }
                    }
                    Err(error) => failure = Some(format!("position {}: {error}", found.position)),
                }
            }
            let batch = json!({
                "partition": partition.display().to_string(),
                "position": found.position,
                "base_offset": header.base_offset,
                "last_offset": header.base_offset + i64::from(header.last_offset_delta),
                "records": header.record_count,
                "bytes": found.batch.as_bytes().len(),
                "first_timestamp": header.base_timestamp,
                "max_timestamp": header.max_timestamp,
                "producer_id": header.producer_id,
                "producer_epoch": header.producer_epoch,
                "base_sequence": header.base_sequence,
                "codec": codec,
                "transactional": header.attributes.is_transactional(),
                "control": header.attributes.is_control(),
            });
            match format {
                Format::Json => {
                    let mut batch = batch;
                    if with_records {
                        batch["record_list"] = json!(record_lines);
                    }
                    println!("{batch}");
                }
                Format::Text => {
                    println!(
                        "  batch position={} offsets={}..{} records={} bytes={} timestamps={}..{} producer_id={} epoch={} sequence={} codec={}{}{}",
                        batch["position"], batch["base_offset"], batch["last_offset"], batch["records"],
                        batch["bytes"], batch["first_timestamp"], batch["max_timestamp"], batch["producer_id"],
                        batch["producer_epoch"], batch["base_sequence"], codec,
                        if header.attributes.is_transactional() { " transactional" } else { "" },
                        if header.attributes.is_control() { " control" } else { "" },
                    );
                    for record in &record_lines {
                        println!(
                            "    record offset={} timestamp={} key={} headers={} value={}",
                            record["offset"], record["timestamp"], record["key"], record["headers"], record["value"]
                        );
                    }
                }
            }
        })
        .map_err(|problem| format!("dump stopped: {problem}"))?;
        if let Some(failure) = failure {
            return Err(format!("{}: {failure}", segment.data.display()));
        }
        if format == Format::Text {
            match end {
                DataEnd::EndOfFile => println!("  end of file"),
                DataEnd::ZeroFill { position } => {
                    println!("  end of data at position {position} (zero fill after)")
                }
            }
        }
    }
    Ok(())
}
