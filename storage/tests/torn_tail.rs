//! Crash tests: tear the last write of the data file at every byte and check that recovery
//! keeps every flushed batch, serves no torn one, and keeps exactly the unflushed batches that
//! were completely written.

mod common;

use common::{cache, context, directory, open_simulated, run, small_config};
use storage::{
    testing::{make_batch, payload},
    CrashMode, FlushPolicy, LogConfig, Offset, SimulatedFileSystem,
};

struct Scene {
    file_system: SimulatedFileSystem,
    /// Payloads of every appended batch, by batch index (one record each: offset = index).
    payloads: Vec<Vec<u8>>,
    flushed_batches: usize,
    /// (position, length) of the last write to the data file, and the end position of each
    /// unflushed batch.
    last_write: (u64, usize),
    unflushed_batch_ends: Vec<u64>,
    /// Data bytes written by the writes before the last one.
    written_before_last: u64,
}

fn config() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::Interval {
            interval_ms: 1 << 40,
            bytes: 1 << 40,
        },
        ..small_config()
    }
}

/// Appends durable batches of `flushed_sizes`, then written-only batches of `unflushed_sizes`
/// one append each, then one last append carrying batches of `final_group_sizes` (one write).
async fn build_scene(
    flushed_sizes: &[usize],
    unflushed_sizes: &[usize],
    final_group_sizes: &[usize],
) -> Scene {
    let file_system = SimulatedFileSystem::new();
    let cache = cache();
    let log = open_simulated(&file_system, config(), &cache).await;
    let mut payloads = Vec::new();
    for (index, &size) in flushed_sizes.iter().enumerate() {
        let batch = make_batch(1, size, index as i64, index as u64);
        payloads.push(payload(&batch).to_vec());
        log.append(batch, context(0)).await.unwrap();
    }
    log.flush().await.unwrap();
    let flushed_batches = payloads.len();
    assert_eq!(log.flushed_offset(), Offset(flushed_batches as i64));
    let mut unflushed_batch_ends = Vec::new();
    let mut position = log.size_bytes();
    for &size in unflushed_sizes {
        let index = payloads.len();
        let batch = make_batch(1, size, index as i64, index as u64);
        payloads.push(payload(&batch).to_vec());
        position += batch.len() as u64;
        unflushed_batch_ends.push(position);
        log.append(batch, context(0)).await.unwrap();
    }
    let written_before_last = log.size_bytes();
    let mut group = bytes::BytesMut::new();
    for &size in final_group_sizes {
        let index = payloads.len();
        let batch = make_batch(1, size, index as i64, index as u64);
        payloads.push(payload(&batch).to_vec());
        position += batch.len() as u64;
        unflushed_batch_ends.push(position);
        group.extend_from_slice(&batch);
    }
    log.append(group, context(0)).await.unwrap();
    assert_eq!(log.flushed_offset(), Offset(flushed_batches as i64));
    let data_path = directory().join(format!("{:020}.log", 0));
    let writes = file_system.unsynced_writes(&data_path);
    let last_write = *writes.last().expect("unflushed writes");
    drop(log);
    Scene {
        file_system,
        payloads,
        flushed_batches,
        last_write,
        unflushed_batch_ends,
        written_before_last,
    }
}

async fn check_every_tear(scene: &Scene) {
    let data_path = directory().join(format!("{:020}.log", 0));
    let changes = scene.file_system.unsynced_change_count(&data_path);
    let writes_before_last = scene.file_system.unsynced_writes(&data_path).len() - 1;
    let (write_position, write_length) = scene.last_write;
    // Index of the last write among all unsynced changes (writes and size changes).
    let kept_changes = changes - 1;
    assert!(writes_before_last <= kept_changes);
    for torn_bytes in 0..=write_length {
        let file_system = scene.file_system.snapshot();
        file_system.crash(&CrashMode::TornWrite {
            path: data_path.clone(),
            kept_changes,
            torn_bytes,
        });
        let cache = cache();
        let log = open_simulated(&file_system, config(), &cache).await;
        let torn_end = (write_position + torn_bytes as u64).max(scene.written_before_last);
        let complete_unflushed = scene
            .unflushed_batch_ends
            .iter()
            .filter(|&&end| end <= torn_end)
            .count();
        let expected_end = scene.flushed_batches + complete_unflushed;
        assert_eq!(
            log.log_end_offset(),
            Offset(expected_end as i64),
            "tear after {torn_bytes} bytes of the write at {write_position}"
        );
        let read = log
            .read(Offset(0), 1 << 20, log.log_end_offset())
            .await
            .unwrap();
        let bytes = read.to_vec();
        let mut rest = &bytes[..];
        let mut index = 0usize;
        while !rest.is_empty() {
            let header = wire::records::BatchHeader::validate(rest, 1 << 20).unwrap();
            assert_eq!(header.base_offset, index as i64);
            let (batch, tail) = rest.split_at(header.total_len());
            assert_eq!(
                payload(batch),
                &scene.payloads[index][..],
                "batch {index}, tear {torn_bytes}"
            );
            rest = tail;
            index += 1;
        }
        assert_eq!(index, expected_end, "tear {torn_bytes}");
        // The log keeps working after recovery.
        log.append(make_batch(1, 10, 0, 99), context(0))
            .await
            .unwrap();
        log.flush().await.unwrap();
    }
}

#[test]
fn tearing_a_single_page_rewrite_at_every_byte() {
    run(|| async {
        // The flushed prefix ends inside page 0, which the last write rewrites.
        let scene = build_scene(&[300, 500], &[200], &[700, 900, 100]).await;
        assert_eq!(scene.last_write, (0, 4096));
        check_every_tear(&scene).await;
    });
}

#[test]
fn tearing_a_multi_page_write_at_every_byte() {
    run(|| async {
        // Prefix ends inside page 1; the last write covers pages 1..=3.
        let scene = build_scene(&[2_000, 2_500], &[1_000], &[3_000, 2_200, 1_500, 3_000]).await;
        assert_eq!(scene.last_write.0, 4096);
        assert!(scene.last_write.1 >= 3 * 4096);
        check_every_tear(&scene).await;
    });
}

#[test]
fn a_corrupt_byte_in_the_unflushed_tail_cuts_the_log_there() {
    run(|| async {
        let scene = build_scene(&[300, 500], &[200], &[700, 900]).await;
        let data_path = directory().join(format!("{:020}.log", 0));
        // Keep every write, then flip one byte inside the fourth batch's records.
        let file_system = scene.file_system.snapshot();
        let changes = file_system.unsynced_change_count(&data_path);
        file_system.crash(&CrashMode::TornWrite {
            path: data_path.clone(),
            kept_changes: changes,
            torn_bytes: 0,
        });
        let fourth_start = scene.unflushed_batch_ends[0];
        file_system
            .corrupt_byte(&data_path, fourth_start + 100)
            .unwrap();
        let cache = cache();
        let log = open_simulated(&file_system, config(), &cache).await;
        assert_eq!(log.log_end_offset(), Offset(3));
        assert!(log.recovery_report().bytes_truncated > 0);
    });
}
