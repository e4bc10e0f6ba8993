//! Shared helpers of the storage integration tests.
#![allow(dead_code)]

use std::{future::Future, path::PathBuf, rc::Rc};

use storage::{
    run_on_local_executor, AppendContext, BatchCache, FlushPolicy, LogConfig, PartitionLog,
    SimulatedFileSystem, STORAGE_IO_MEMORY_BYTES,
};

/// Runs a test body on a glommio executor set up as storage needs it.
pub fn run<T, F: Future<Output = T>>(body: impl FnOnce() -> F) -> T {
    run_on_local_executor(STORAGE_IO_MEMORY_BYTES, body).expect("glommio executor starts")
}

/// Small segments and chunks so that tests cross every boundary quickly.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 64 * 1024,
        index_interval_bytes: 1024,
        write_chunk_bytes: 16 * 1024,
        writes_in_flight_max: 3,
        unwritten_bytes_max: 64 * 1024,
        preallocate_bytes: 32 * 1024,
        retention_ms: None,
        recovery_checkpoint_bytes: 16 * 1024,
        flush: FlushPolicy::OnAppend,
        ..LogConfig::default()
    }
}

pub fn context(now_ms: i64) -> AppendContext {
    AppendContext {
        now_ms,
        leader_epoch: 3,
    }
}

pub fn directory() -> PathBuf {
    PathBuf::from("/simulated/topic-0")
}

pub async fn open_simulated(
    file_system: &SimulatedFileSystem,
    config: LogConfig,
    cache: &Rc<BatchCache>,
) -> PartitionLog<SimulatedFileSystem> {
    PartitionLog::open(file_system.clone(), directory(), config, cache.clone())
        .await
        .expect("log opens")
}

pub fn cache() -> Rc<BatchCache> {
    Rc::new(BatchCache::new(1 << 20))
}

/// Closes `log` cleanly, drops it and opens the directory again with `config`.
pub async fn reopen(
    log: PartitionLog<SimulatedFileSystem>,
    file_system: &SimulatedFileSystem,
    config: LogConfig,
    cache: &Rc<BatchCache>,
) -> PartitionLog<SimulatedFileSystem> {
    log.close().await.expect("log closes");
    drop(log);
    open_simulated(file_system, config, cache).await
}
