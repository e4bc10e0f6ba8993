//! One glommio executor per configured core, each pinned to its core.
//!
//! A shard is the broker's unit of ownership: shard `i` runs on `cores[i]`, owns the
//! partitions placed on it, and shares no mutable state with other shards.

use std::future::Future;

use glommio::{LocalExecutorBuilder, Placement};

/// Which shard a piece of code runs on. Shard ids are dense, `0..shard_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub usize);

/// Where and how the executors run.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// CPU core of each shard, in shard order.
    pub cores: Vec<usize>,
    /// io_uring buffer memory registered per executor.
    pub io_memory_bytes: usize,
}

/// Why executors could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("cannot start the executor of shard {shard} on core {core}: {message}")]
    Start {
        shard: usize,
        core: usize,
        message: String,
    },
    #[error("the executor of shard {shard} failed: {message}")]
    Join { shard: usize, message: String },
}

/// Bytes of memory this process may lock (RLIMIT_MEMLOCK), or `None` when unlimited.
pub fn locked_memory_limit_bytes() -> Option<u64> {
    // SAFETY: getrlimit fills a plain struct we own.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if result != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    Some(limit.rlim_cur)
}

/// Shards that are running; [`RunningShards::join`] waits for their results.
pub struct RunningShards<T: Send + 'static> {
    handles: Vec<glommio::ExecutorJoinHandle<T>>,
}

/// Starts `shard_main(shard)` on one pinned executor per core.
pub fn start_shards<T, F, Fut>(
    settings: &ExecutorSettings,
    shard_main: F,
) -> Result<RunningShards<T>, ExecutorError>
where
    T: Send + 'static,
    F: Fn(ShardId) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = T> + 'static,
{
    if let Some(limit) = locked_memory_limit_bytes() {
        let wanted = settings.io_memory_bytes as u64 * settings.cores.len() as u64;
        if wanted > limit {
            tracing::warn!(
                io_memory_bytes_per_core = settings.io_memory_bytes,
                cores = settings.cores.len(),
                memlock_limit_bytes = limit,
                "io memory exceeds the locked-memory limit (ulimit -l); io_uring buffer \
                 registration will fail and I/O falls back to unregistered buffers. Lower \
                 --io-memory-bytes or raise the limit"
            );
        }
    }
    let mut handles = Vec::with_capacity(settings.cores.len());
    for (index, &core) in settings.cores.iter().enumerate() {
        let shard_main = shard_main.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(core))
            .name(&format!("ferrite-shard-{index}"))
            .io_memory(settings.io_memory_bytes)
            .spawn(move || shard_main(ShardId(index)))
            .map_err(|error| ExecutorError::Start {
                shard: index,
                core,
                message: error.to_string(),
            })?;
        handles.push(handle);
    }
    Ok(RunningShards { handles })
}

impl<T: Send + 'static> RunningShards<T> {
    /// Waits for every shard to finish; results come back in shard order.
    pub fn join(self) -> Result<Vec<T>, ExecutorError> {
        let mut results = Vec::with_capacity(self.handles.len());
        for (index, handle) in self.handles.into_iter().enumerate() {
            let result = handle.join().map_err(|error| ExecutorError::Join {
                shard: index,
                message: error.to_string(),
            })?;
            results.push(result);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_runs_once_in_shard_order() {
        let cores = crate::config::available_cores();
        let settings = ExecutorSettings {
            cores: cores.iter().copied().take(2).collect(),
            io_memory_bytes: 64 * 1024,
        };
        let results = start_shards(&settings, |shard| async move { shard.0 * 10 })
            .unwrap()
            .join()
            .unwrap();
        let expected: Vec<usize> = (0..settings.cores.len()).map(|index| index * 10).collect();
        assert_eq!(results, expected);
    }
}
