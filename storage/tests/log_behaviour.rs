//! Behaviour of one partition log on the simulated file system (and one test on real files).

mod common;

use std::rc::Rc;

use common::{cache, context, directory, open_simulated, reopen, run, small_config};
use storage::{
    testing::{make_batch, payload},
    BatchCache, FlushPolicy, GlommioFileSystem, LogConfig, Offset, PartitionLog,
    SimulatedFileSystem, StorageError, TimestampType,
};

#[test]
fn appends_assign_offsets_and_reads_return_whole_batches() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        let first = log
            .append(make_batch(3, 100, 1_000, 1), context(1))
            .await
            .unwrap();
        let second = log
            .append(make_batch(2, 50, 1_001, 2), context(2))
            .await
            .unwrap();
        assert_eq!(
            (first.base_offset, first.last_offset),
            (Offset(0), Offset(2))
        );
        assert_eq!(
            (second.base_offset, second.last_offset),
            (Offset(3), Offset(4))
        );
        assert_eq!(second.position.position_bytes, 161);
        let offsets = log.offsets();
        assert_eq!(offsets.log_end_offset, Offset(5));
        assert_eq!(
            offsets.flushed_offset,
            Offset(5),
            "flush on append makes it durable"
        );
        // Reading from the middle of the first batch returns it whole.
        let read = log.read(Offset(1), 1 << 20, Offset(5)).await.unwrap();
        let headers = read.headers();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].base_offset, 0);
        assert_eq!(headers[0].partition_leader_epoch, 3);
        assert_eq!(headers[1].base_offset, 3);
        assert_eq!(read.next_offset, Offset(5));
        assert!(read.from_cache);
        // The upper bound excludes the second batch.
        let bounded = log.read(Offset(0), 1 << 20, Offset(4)).await.unwrap();
        assert_eq!(bounded.headers().len(), 1);
        // A byte limit below the first batch still returns that batch.
        let limited = log.read(Offset(0), 10, Offset(5)).await.unwrap();
        assert_eq!(limited.headers().len(), 1);
        assert!(matches!(
            log.read(Offset(6), 100, Offset(6)).await,
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert_eq!(log.read(Offset(5), 100, Offset(9)).await.unwrap().bytes, 0);
    });
}

#[test]
fn invalid_batches_are_refused_and_change_nothing() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        let mut corrupt = make_batch(1, 40, 5, 1);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(matches!(
            log.append(corrupt, context(1)).await,
            Err(StorageError::InvalidBatch(_))
        ));
        let mut trailing = make_batch(1, 40, 5, 1);
        trailing.extend_from_slice(&[1, 2, 3]);
        assert!(log.append(trailing, context(1)).await.is_err());
        assert!(log
            .append(bytes::BytesMut::new(), context(1))
            .await
            .is_err());
        assert_eq!(log.log_end_offset(), Offset(0));
    });
}

#[test]
fn reads_after_reopen_come_from_disk_and_match() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let mut expected = Vec::new();
        {
            let log = open_simulated(&file_system, small_config(), &cache).await;
            for index in 0..200u64 {
                let batch = make_batch(
                    2,
                    300 + (index as usize % 7) * 50,
                    10_000 + index as i64,
                    index,
                );
                expected.push(payload(&batch).to_vec());
                log.append(batch, context(index as i64)).await.unwrap();
            }
            assert!(
                log.segment_base_offsets().len() > 1,
                "small segments rolled"
            );
            log.close().await.unwrap();
        }
        let log = open_simulated(&file_system, small_config(), &cache).await;
        assert!(log.recovery_report().used_checkpoint);
        assert!(log.recovery_report().segments > 1);
        assert_eq!(
            log.recovery_report().segments_scanned,
            1,
            "closed segments are not read"
        );
        // Clean close: only the batches after the last index entry before the end are re-read.
        assert!(log.recovery_report().bytes_scanned <= 1024 + 700);
        assert_eq!(log.log_end_offset(), Offset(400));
        let mut next = Offset(0);
        let mut seen = 0usize;
        for _ in 0..1000 {
            if next == Offset(400) {
                break;
            }
            let read = log.read(next, 4096, Offset(400)).await.unwrap();
            assert!(!read.from_cache);
            for header in read.headers() {
                assert_eq!(header.base_offset, next.0);
                next = Offset(header.last_offset() + 1);
            }
            let bytes = read.to_vec();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let header = wire::records::BatchHeader::validate(rest, 1 << 20).unwrap();
                let (batch, tail) = rest.split_at(header.total_len());
                assert_eq!(payload(batch), &expected[seen][..], "batch {seen}");
                seen += 1;
                rest = tail;
            }
        }
        assert_eq!(seen, 200);
    });
}

#[test]
fn segments_roll_on_size_and_age_and_stay_aligned() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            segment_ms: 1_000,
            ..small_config()
        };
        let log = open_simulated(&file_system, config, &cache).await;
        log.append(make_batch(1, 100, 0, 0), context(0))
            .await
            .unwrap();
        log.append(make_batch(1, 100, 0, 0), context(999))
            .await
            .unwrap();
        assert_eq!(log.segment_base_offsets(), vec![Offset(0)]);
        log.append(make_batch(1, 100, 0, 0), context(1_000))
            .await
            .unwrap();
        assert_eq!(log.segment_base_offsets(), vec![Offset(0), Offset(2)]);
        // Size: 64 KiB segments, 10 KiB batches: a roll every 6 batches.
        for index in 0..20 {
            log.append(make_batch(1, 10_000, 0, index), context(1_500))
                .await
                .unwrap();
        }
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 4, "{bases:?}");
        // Closed segments are trimmed to their batches; every file name is a base offset.
        let names = file_system.file_names(&directory());
        for base in &bases[..bases.len() - 1] {
            let name = format!("{:020}.log", base.0);
            assert!(names.contains(&name), "{name} in {names:?}");
            let content = file_system.content(&directory().join(&name)).unwrap();
            assert!(content.len() as u64 <= 64 * 1024);
            let batches = wire::records::split_batches(&content, 1 << 20).count();
            assert!(batches > 0);
            assert!(wire::records::split_batches(&content, 1 << 20).all(|batch| batch.is_ok()));
        }
    });
}

#[test]
fn log_append_time_stamps_batches_and_timestamp_lookups_work() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            timestamp_type: TimestampType::LogAppendTime,
            ..small_config()
        };
        let log = open_simulated(&file_system, config, &cache).await;
        for index in 0..100i64 {
            let info = log
                .append(
                    make_batch(1, 2_000, 5, index as u64),
                    context(10_000 + index * 10),
                )
                .await
                .unwrap();
            assert_eq!(info.log_append_time_ms, Some(10_000 + index * 10));
        }
        let read = log.read(Offset(0), 1 << 20, Offset(1)).await.unwrap();
        let header = read.headers()[0];
        assert_eq!(header.max_timestamp, 10_000);
        assert_eq!(
            header.attributes.timestamp_type(),
            TimestampType::LogAppendTime
        );
        assert_eq!(
            log.offset_for_timestamp(10_255).await.unwrap(),
            Some((Offset(26), 10_260))
        );
        assert_eq!(
            log.offset_for_timestamp(0).await.unwrap(),
            Some((Offset(0), 10_000))
        );
        assert_eq!(log.offset_for_timestamp(20_000).await.unwrap(), None);
        assert_eq!(
            log.max_timestamp().await.unwrap(),
            Some((10_990, Offset(99)))
        );
        // The same answers after a reopen, from the index files.
        let log = reopen(log, &file_system, small_config(), &cache).await;
        assert_eq!(
            log.offset_for_timestamp(10_255).await.unwrap(),
            Some((Offset(26), 10_260))
        );
        assert_eq!(
            log.max_timestamp().await.unwrap(),
            Some((10_990, Offset(99)))
        );
    });
}

#[test]
fn retention_deletes_whole_old_segments_and_moves_log_start() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            retention_bytes: Some(100 * 1024),
            retention_ms: Some(60_000),
            ..small_config()
        };
        let log = open_simulated(&file_system, config, &cache).await;
        for index in 0..60i64 {
            log.append(
                make_batch(1, 10_000, index * 1_000, index as u64),
                context(index),
            )
            .await
            .unwrap();
        }
        let before = log.segment_base_offsets();
        let deleted = log.apply_retention(60_000).await.unwrap();
        assert!(!deleted.is_empty());
        let after = log.segment_base_offsets();
        assert_eq!(after.len() + deleted.len(), before.len());
        assert!(log.size_bytes() < 100 * 1024 + 64 * 1024);
        assert_eq!(log.log_start_offset(), after[0]);
        assert!(matches!(
            log.read(Offset(0), 100, Offset(60)).await,
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        // Time retention: everything older than 60 s before now=200 s goes, but never the
        // active segment.
        let deleted = log.apply_retention(200_000).await.unwrap();
        assert!(!deleted.is_empty());
        assert_eq!(log.segment_base_offsets().len(), 1);
        let names = file_system.file_names(&directory());
        assert_eq!(
            names.iter().filter(|name| name.ends_with(".log")).count(),
            1
        );
        // Reopen keeps the log start offset.
        let start = log.log_start_offset();
        let log = reopen(log, &file_system, small_config(), &cache).await;
        assert_eq!(log.log_start_offset(), start);
        assert_eq!(log.log_end_offset(), Offset(60));
    });
}

#[test]
fn advance_log_start_hides_and_deletes_old_data() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        for index in 0..30u64 {
            log.append(make_batch(2, 10_000, 0, index), context(0))
                .await
                .unwrap();
        }
        let segments = log.segment_base_offsets();
        assert_eq!(log.advance_log_start(Offset(25)).await.unwrap(), Offset(25));
        assert!(log.segment_base_offsets().len() < segments.len());
        assert!(log.read(Offset(24), 100, Offset(60)).await.is_err());
        let read = log.read(Offset(25), 100, Offset(60)).await.unwrap();
        assert_eq!(read.headers()[0].base_offset, 24, "batch holding offset 25");
        assert!(log.advance_log_start(Offset(61)).await.is_err());
        let log = reopen(log, &file_system, small_config(), &cache).await;
        assert_eq!(log.log_start_offset(), Offset(25));
    });
}

#[test]
fn truncate_removes_the_tail_and_appends_continue_from_there() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        for index in 0..40u64 {
            log.append(make_batch(3, 3_000, index as i64, index), context(0))
                .await
                .unwrap();
        }
        let segments_before = log.segment_base_offsets().len();
        // Offset 31 is inside the batch 30..=32: that whole batch goes.
        assert_eq!(log.truncate_to(Offset(31)).await.unwrap(), Offset(30));
        assert!(log.segment_base_offsets().len() < segments_before);
        assert_eq!(log.offsets().flushed_offset, Offset(30));
        let info = log
            .append(make_batch(1, 10, 7, 7), context(0))
            .await
            .unwrap();
        assert_eq!(info.base_offset, Offset(30));
        let read = log.read(Offset(27), 1 << 20, Offset(31)).await.unwrap();
        let headers = read.headers();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[1].base_offset, 30);
        assert_eq!(headers[1].record_count, 1);
        let log = reopen(log, &file_system, small_config(), &cache).await;
        assert_eq!(log.log_end_offset(), Offset(31));
        let read = log.read(Offset(30), 1 << 20, Offset(31)).await.unwrap();
        assert_eq!(read.headers()[0].record_count, 1);
    });
}

#[test]
fn concurrent_appends_share_fdatasyncs_and_keep_arrival_order() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            segment_bytes_max: 16 << 20,
            ..small_config()
        };
        let log = Rc::new(open_simulated(&file_system, config, &cache).await);
        let syncs_before = file_system.syncs_started();
        let appends = 64u64;
        let mut tasks = Vec::new();
        for index in 0..appends {
            let log = log.clone();
            tasks.push(glommio::spawn_local(async move {
                let info = log
                    .append(make_batch(1, 500, 0, index), common::context(0))
                    .await
                    .unwrap();
                (index, info.base_offset)
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await);
        }
        // Tasks started in order, so offsets follow the spawn order.
        for (index, offset) in &results {
            assert_eq!(*offset, Offset(*index as i64));
        }
        let syncs = file_system.syncs_started() - syncs_before;
        assert!(
            syncs >= 1 && syncs < appends / 4,
            "{syncs} fdatasyncs for {appends} appends"
        );
        assert_eq!(log.flushed_offset(), Offset(appends as i64));
    });
}

#[test]
fn a_failed_write_makes_the_log_read_only_and_keeps_durable_data() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        log.append(make_batch(1, 100, 0, 0), context(0))
            .await
            .unwrap();
        file_system.fail_write_number(1);
        let error = log
            .append(make_batch(1, 100, 0, 1), context(0))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                StorageError::Io { .. } | StorageError::LogFailed { .. }
            ),
            "{error}"
        );
        assert!(log.failure().is_some());
        assert!(matches!(
            log.append(make_batch(1, 100, 0, 2), context(0)).await,
            Err(StorageError::LogFailed { .. })
        ));
        assert!(log.flush().await.is_err());
        assert_eq!(log.flushed_offset(), Offset(1));
        let read = log
            .read(Offset(0), 1 << 20, log.flushed_offset())
            .await
            .unwrap();
        assert_eq!(read.headers().len(), 1);
        drop(log);
        let log = open_simulated(&file_system, small_config(), &cache).await;
        assert_eq!(log.log_end_offset(), Offset(1));
        log.append(make_batch(1, 100, 0, 3), context(0))
            .await
            .unwrap();
    });
}

#[test]
fn a_failed_fdatasync_is_fatal_and_never_retried() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        log.append(make_batch(1, 100, 0, 0), context(0))
            .await
            .unwrap();
        file_system.fail_sync_number(1);
        assert!(log
            .append(make_batch(1, 100, 0, 1), context(0))
            .await
            .is_err());
        let syncs = file_system.syncs_started();
        assert!(log
            .append(make_batch(1, 100, 0, 2), context(0))
            .await
            .is_err());
        assert!(log.flush().await.is_err());
        assert_eq!(
            file_system.syncs_started(),
            syncs,
            "no retry after a failed fdatasync"
        );
        assert_eq!(log.flushed_offset(), Offset(1));
        assert!(log.written_offset() >= log.flushed_offset());
    });
}

#[test]
fn interval_flush_policy_completes_on_write_and_flushes_later() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            flush: FlushPolicy::Interval {
                interval_ms: 1_000,
                bytes: 1 << 30,
            },
            ..small_config()
        };
        let log = open_simulated(&file_system, config, &cache).await;
        log.append(make_batch(1, 100, 0, 0), context(0))
            .await
            .unwrap();
        log.tick(0).await.unwrap();
        let flushed = log.flushed_offset();
        log.append(make_batch(1, 100, 0, 1), context(10))
            .await
            .unwrap();
        assert_eq!(log.written_offset(), Offset(2));
        assert_eq!(
            log.flushed_offset(),
            flushed,
            "not flushed before the interval"
        );
        log.tick(500).await.unwrap();
        assert_eq!(log.flushed_offset(), flushed);
        log.tick(5_000).await.unwrap();
        assert_eq!(log.flushed_offset(), Offset(2));
    });
}

#[test]
fn missing_or_corrupt_indexes_are_rebuilt_from_data() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        for index in 0..40u64 {
            log.append(make_batch(1, 3_000, index as i64 * 100, index), context(0))
                .await
                .unwrap();
        }
        log.close().await.unwrap();
        drop(log);
        let first = directory().join(format!("{:020}.index", 0));
        let content = file_system.content(&first).unwrap();
        file_system.set_content(&first, &content[..content.len() - 3]);
        let time = directory().join(format!("{:020}.timeindex", 0));
        file_system.set_content(&time, &[]);
        let log = open_simulated(&file_system, small_config(), &cache).await;
        assert_eq!(
            log.offset_for_timestamp(1_050).await.unwrap(),
            Some((Offset(11), 1_100))
        );
        let read = log.read(Offset(5), 100, Offset(40)).await.unwrap();
        assert_eq!(read.headers()[0].base_offset, 5);
    });
}

#[test]
fn recovery_scans_only_past_the_checkpoint() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            segment_bytes_max: 4 << 20,
            ..small_config()
        };
        let log = open_simulated(&file_system, config.clone(), &cache).await;
        for index in 0..200u64 {
            log.append(make_batch(1, 4_000, 0, index), context(0))
                .await
                .unwrap();
            log.tick(0).await.unwrap();
        }
        let size = log.size_bytes();
        drop(log);
        file_system.crash(&storage::CrashMode::DropUnsynced);
        let log = open_simulated(&file_system, config, &cache).await;
        let report = log.recovery_report().clone();
        assert!(report.used_checkpoint);
        assert!(
            report.bytes_scanned < 32 * 1024,
            "{report:?} for {size} bytes"
        );
        assert_eq!(log.log_end_offset(), Offset(200));
        let read = log.read(Offset(150), 1 << 20, Offset(200)).await.unwrap();
        assert_eq!(read.headers()[0].base_offset, 150);
    });
}

#[test]
fn tail_reads_hit_the_cache_and_evicted_batches_come_from_disk() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = Rc::new(BatchCache::new(50_000));
        let log = open_simulated(&file_system, small_config(), &cache).await;
        for index in 0..20u64 {
            log.append(make_batch(1, 9_000, 0, index), context(0))
                .await
                .unwrap();
        }
        assert!(cache.usage().used_bytes <= 50_000);
        let tail = log.read(Offset(19), 1 << 20, Offset(20)).await.unwrap();
        assert!(tail.from_cache);
        let old = log.read(Offset(0), 1 << 20, Offset(20)).await.unwrap();
        assert!(!old.from_cache);
        assert_eq!(old.headers()[0].base_offset, 0);
    });
}

#[test]
fn real_files_through_io_uring_round_trip() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("topic-0");
    run(|| async move {
        let cache = Rc::new(BatchCache::new(1 << 20));
        let config = LogConfig {
            segment_bytes_max: 256 * 1024,
            ..small_config()
        };
        let log = PartitionLog::open(GlommioFileSystem, &path, config.clone(), cache.clone())
            .await
            .unwrap();
        for index in 0..100u64 {
            log.append(make_batch(2, 5_000, index as i64, index), context(0))
                .await
                .unwrap();
        }
        assert_eq!(log.flushed_offset(), Offset(200));
        log.close().await.unwrap();
        drop(log);
        let log = PartitionLog::open(GlommioFileSystem, &path, config, cache.clone())
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), Offset(200));
        let read = log.read(Offset(101), 1 << 20, Offset(200)).await.unwrap();
        assert!(!read.from_cache);
        assert_eq!(read.headers()[0].base_offset, 100);
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(names.contains(&"00000000000000000000.log".to_string()));
        assert!(names.contains(&"partition.checkpoint".to_string()));
    });
}

#[test]
fn an_append_dropped_while_waiting_for_its_turn_does_not_block_the_queue() {
    use std::{future::Future, pin::pin, task::Poll};
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            unwritten_bytes_max: 16 * 1024,
            ..small_config()
        };
        let log = open_simulated(&file_system, config, &cache).await;
        let mut first = pin!(log.append(make_batch(1, 12_000, 0, 1), context(0)));
        let mut dropped = Box::pin(log.append(make_batch(1, 8_000, 0, 2), context(0)));
        let mut third = pin!(log.append(make_batch(1, 1_000, 0, 3), context(0)));
        std::future::poll_fn(|context| {
            assert!(first.as_mut().poll(context).is_pending());
            // No room for 8 KB more unwritten bytes: it waits, holding the second turn.
            assert!(dropped.as_mut().poll(context).is_pending());
            assert!(third.as_mut().poll(context).is_pending());
            Poll::Ready(())
        })
        .await;
        assert_eq!(
            log.log_end_offset(),
            Offset(1),
            "only the first was admitted"
        );
        drop(dropped);
        let mut first_result = None;
        let mut third_result = None;
        std::future::poll_fn(|context| {
            if first_result.is_none() {
                if let Poll::Ready(result) = first.as_mut().poll(context) {
                    first_result = Some(result);
                }
            }
            if third_result.is_none() {
                if let Poll::Ready(result) = third.as_mut().poll(context) {
                    third_result = Some(result);
                }
            }
            if first_result.is_some() && third_result.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        assert_eq!(first_result.unwrap().unwrap().base_offset, Offset(0));
        assert_eq!(third_result.unwrap().unwrap().base_offset, Offset(1));
        assert!(log.failure().is_none());
    });
}

#[test]
fn disk_reads_of_batches_larger_than_the_read_window_return_them_whole() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            segment_bytes_max: 1 << 20,
            index_interval_bytes: 300_000,
            write_chunk_bytes: 64 * 1024,
            unwritten_bytes_max: 1 << 20,
            ..small_config()
        };
        let log = open_simulated(&file_system, config.clone(), &cache).await;
        let mut payloads = Vec::new();
        for index in 0..12u64 {
            let batch = make_batch(2, 100_000 + index as usize * 997, 0, index);
            payloads.push(payload(&batch).to_vec());
            log.append(batch, context(0)).await.unwrap();
        }
        let log = reopen(log, &file_system, config, &cache).await;
        for (index, expected) in payloads.iter().enumerate() {
            // Offsets 2i and 2i+1 are in batch i; ask for the second one with a tiny limit.
            let read = log
                .read(Offset(index as i64 * 2 + 1), 10, Offset(24))
                .await
                .unwrap();
            assert!(!read.from_cache);
            let headers = read.headers();
            assert_eq!(headers.len(), 1, "batch {index}");
            assert_eq!(headers[0].base_offset, index as i64 * 2);
            assert_eq!(payload(&read.to_vec()), &expected[..]);
            assert_eq!(read.next_offset, Offset(index as i64 * 2 + 2));
        }
    });
}

#[test]
fn set_config_applies_to_later_appends_and_keeps_the_write_buffer_sizing() {
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let log = open_simulated(&file_system, small_config(), &cache).await;
        log.append(make_batch(1, 500, 1_000, 1), context(1))
            .await
            .unwrap();
        let chunk_bytes = log.config().write_chunk_bytes;
        log.set_config(LogConfig {
            batch_bytes_max: 200,
            write_chunk_bytes: chunk_bytes * 2,
            ..small_config()
        })
        .unwrap();
        assert_eq!(log.config().batch_bytes_max, 200);
        assert_eq!(
            log.config().write_chunk_bytes,
            chunk_bytes,
            "buffer sizing chosen at open stays"
        );
        assert!(matches!(
            log.append(make_batch(1, 500, 1_001, 2), context(1)).await,
            Err(StorageError::InvalidBatch(_))
        ));
        log.append(make_batch(1, 50, 1_002, 3), context(1))
            .await
            .unwrap();
        assert!(log
            .set_config(LogConfig {
                segment_bytes_max: 10,
                ..small_config()
            })
            .is_err());
        assert_eq!(log.log_end_offset(), Offset(2));
    });
}

#[test]
fn checkpoints_racing_segment_rolls_never_break_the_log() {
    // A tick's checkpoint writes the active segment's index files; a roll seals the same
    // segment and writes them too. Both must take turns (they share temporary files), or a
    // rename finds its temporary file gone and the log turns read-only.
    run(|| async {
        let file_system = SimulatedFileSystem::new();
        let cache = cache();
        let config = LogConfig {
            recovery_checkpoint_bytes: 1,
            ..small_config()
        };
        let log = Rc::new(open_simulated(&file_system, config, &cache).await);
        let ticking = Rc::new(std::cell::Cell::new(true));
        let ticker = {
            let (log, ticking) = (log.clone(), ticking.clone());
            glommio::spawn_local(async move {
                let mut ticks = 0u32;
                while ticking.get() && ticks < 100_000 {
                    log.tick(0).await.unwrap();
                    glommio::executor().yield_now().await;
                    ticks += 1;
                }
            })
        };
        for index in 0..120u64 {
            log.append(make_batch(1, 3_000, 0, index), context(0))
                .await
                .unwrap_or_else(|error| panic!("append {index}: {error}"));
        }
        ticking.set(false);
        ticker.await;
        assert!(log.failure().is_none(), "{:?}", log.failure());
        assert!(
            log.segment_base_offsets().len() >= 5,
            "the appends rolled segments"
        );
    });
}
