//! Starting and stopping a whole broker: data directory, metadata, listener, shards.
//!
//! [`start`] runs in the caller's thread up to the point where every shard serves:
//! 1. lock the data directory, open the metadata log (replaying it into the image);
//! 2. bind the listening socket (a taken port fails here, clearly);
//! 3. start one pinned executor per core; each connects its ends of the cross-shard mesh,
//!    waits for the others, opens (recovering) the partitions it owns, then accepts;
//! 4. return once every shard reported ready (or stop them all and return the first error).
//!
//! [`RunningBroker::shutdown`] (also on drop) stops accepting, lets each shard finish the
//! requests in flight (bounded by [`DRAIN_TIMEOUT`]), waits until every shard drained (so no
//! shard still calls another), closes every partition log cleanly and joins the executors; the
//! listening socket is closed before it returns, so the port is free again at once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::BrokerConfig;
use crate::connection::{serve, ConnectionLimits};
use crate::data_dir::{DataDirError, DataDirLock};
use crate::handlers::{now_ms, ShardRequests};
use crate::metadata::log::{MetadataLog, MetadataLogError};
use crate::partitions::{partition_directory, write_producer_snapshot, Partitions};
use crate::runtime::executors::{
    start_shards, ExecutorError, ExecutorSettings, RunningShards, ShardId,
};
use crate::runtime::listener::{ListenerError, SharedListener};
use crate::runtime::mesh::{build_mesh, MeshEnds};
use crate::runtime::net::OpenConnections;
use crate::runtime::tasks::spawn_detached;
use crate::runtime::time::{sleep, within};
use crate::shard::Shard;

/// Longest a stopping shard waits for its requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often each shard checks whether the broker is stopping.
const STOP_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How often partition logs are ticked (interval flushes, recovery checkpoints).
const LOG_TICK_INTERVAL: Duration = Duration::from_millis(100);
/// How often retention runs over every partition (Kafka's log.retention.check.interval.ms is
/// 5 minutes; a shorter interval costs little because only segment metadata is looked at).
const RETENTION_INTERVAL: Duration = Duration::from_secs(30);
/// How often changed producer state is snapshotted while serving (bounds the log replayed
/// after a crash to what was written since).
const PRODUCER_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(300);

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot open the metadata log: {0}")]
    Metadata(#[from] MetadataLogError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error(transparent)]
    Executors(#[from] ExecutorError),
    #[error("cannot use the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("shard {shard} could not start: {reason}")]
    Shard { shard: usize, reason: String },
}

/// State every shard sees, shared read-only (atomics only) across threads.
struct Shared {
    stop: AtomicBool,
    /// Shards whose mesh ends are connected.
    connected: AtomicUsize,
    /// Shards that finished their requests in flight after a stop.
    drained: AtomicUsize,
}

/// A broker that serves. Stop it with [`RunningBroker::shutdown`] (or by dropping it).
pub struct RunningBroker {
    local_addr: SocketAddr,
    listener: SharedListener,
    shared: Arc<Shared>,
    shards: Option<RunningShards<()>>,
    _lock: DataDirLock,
}

/// Reads the cluster id from `<data_dir>/cluster.id`, creating it on first start.
fn cluster_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("cluster.id");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => {
            let id = crate::metadata::TopicId::random();
            let text = format!("{id:?}");
            let temporary = data_dir.join("cluster.id.tmp");
            std::fs::write(&temporary, &text)?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            Ok(text)
        }
    }
}

/// Starts a broker with `config` and returns once every shard serves.
pub fn start(mut config: BrokerConfig) -> Result<RunningBroker, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let (metadata_log, image, recovery) = MetadataLog::open(&config.data_dir.join("metadata"))?;
    tracing::info!(
        topics = image.topics().count(),
        snapshot_offset = recovery.snapshot_offset,
        records_replayed = recovery.records_replayed,
        torn_tail_bytes = recovery.torn_tail_bytes,
        "metadata recovered"
    );
    let cluster_id = cluster_id(&config.data_dir)?;

    let known: HashSet<String> = image
        .topics()
        .flat_map(|topic| {
            (0..topic.partitions.len()).map(move |index| {
                partition_directory(Path::new(""), &topic.name, index as i32)
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
        })
        .collect();
    Partitions::remove_strays(&config.data_dir, &known);

    let listener = SharedListener::bind(config.listen)?;
    let local_addr = listener.local_addr();
    if config.advertised_listener.port == 0 {
        config.advertised_listener.port = local_addr.port();
    }

    let shard_count = config.cores.len();
    let mesh_ends: Vec<Option<MeshEnds<Shard>>> =
        build_mesh(shard_count).into_iter().map(Some).collect();
    let mesh_ends = Arc::new(Mutex::new(mesh_ends));
    let metadata_log = Arc::new(Mutex::new(Some(metadata_log)));
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        connected: AtomicUsize::new(0),
        drained: AtomicUsize::new(0),
    });
    let (ready_sender, ready) = mpsc::channel::<Result<ShardId, (ShardId, String)>>();
    let mut handles = Vec::with_capacity(shard_count);
    for _ in 0..shard_count {
        handles.push(listener.handle()?);
    }
    let handles = Arc::new(Mutex::new(
        handles.into_iter().map(Some).collect::<Vec<_>>(),
    ));

    let settings = ExecutorSettings {
        cores: config.cores.clone(),
        io_memory_bytes: config.io_memory_bytes,
    };
    let shard_config = config.clone();
    let shard_shared = shared.clone();
    let shards = start_shards(&settings, move |id: ShardId| {
        let take = |index: usize| {
            let ends = mesh_ends.lock().expect("not poisoned")[index].take();
            let handle = handles.lock().expect("not poisoned")[index].take();
            (ends, handle)
        };
        let (ends, handle) = take(id.0);
        let metadata_log = if id == crate::shard::METADATA_SHARD {
            metadata_log.lock().expect("not poisoned").take()
        } else {
            None
        };
        let context = ShardStart {
            id,
            config: shard_config.clone(),
            cluster_id: cluster_id.clone(),
            image: image.clone(),
            metadata_log,
            ends: ends.expect("each shard takes its own mesh ends once"),
            listener: handle.expect("each shard takes its own listener handle once"),
            shared: shard_shared.clone(),
            ready: ready_sender.clone(),
        };
        shard_main(context)
    })?;

    let mut broker = RunningBroker {
        local_addr,
        listener,
        shared,
        shards: Some(shards),
        _lock: lock,
    };
    for _ in 0..shard_count {
        match ready.recv() {
            Ok(Ok(_)) => {}
            Ok(Err((shard, reason))) => {
                broker.stop_and_join();
                return Err(StartError::Shard {
                    shard: shard.0,
                    reason,
                });
            }
            Err(_) => {
                broker.stop_and_join();
                return Err(StartError::Shard {
                    shard: 0,
                    reason: "a shard exited while starting".to_owned(),
                });
            }
        }
    }
    tracing::info!(listen = %local_addr, shards = shard_count, "ferrite is serving");
    Ok(broker)
}

impl RunningBroker {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the broker as the module docs describe and waits until it has.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(shards) = self.shards.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        self.listener.stop_accepting();
        if let Err(error) = shards.join() {
            tracing::error!(%error, "a shard failed while stopping");
        }
        tracing::info!("ferrite stopped");
    }
}

impl Drop for RunningBroker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// What one shard starts with.
struct ShardStart {
    id: ShardId,
    config: BrokerConfig,
    cluster_id: String,
    image: crate::metadata::MetadataImage,
    metadata_log: Option<MetadataLog>,
    ends: MeshEnds<Shard>,
    listener: crate::runtime::listener::ListenerHandle,
    shared: Arc<Shared>,
    ready: mpsc::Sender<Result<ShardId, (ShardId, String)>>,
}

/// Longest a shard waits at start-up for the others to connect their mesh ends.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until `count` shards have reached a point, checking `counter`, or until `deadline`;
/// says whether they all did.
async fn all_shards_reached(counter: &AtomicUsize, count: usize, deadline: Instant) -> bool {
    while counter.load(Ordering::SeqCst) < count {
        if Instant::now() >= deadline {
            tracing::warn!(
                reached = counter.load(Ordering::SeqCst),
                shards = count,
                "gave up waiting for the other shards"
            );
            return false;
        }
        sleep(Duration::from_millis(2)).await;
    }
    true
}

async fn shard_main(start: ShardStart) {
    let ShardStart {
        id,
        config,
        cluster_id,
        image,
        metadata_log,
        ends,
        listener,
        shared,
        ready,
    } = start;
    let shard_count = config.cores.len();
    let Some((mesh, inbox)) = within(CONNECT_TIMEOUT, ends.connect()).await else {
        let _ = ready.send(Err((id, "the other shards did not connect".to_owned())));
        shared.drained.fetch_add(1, Ordering::SeqCst);
        return;
    };
    shared.connected.fetch_add(1, Ordering::SeqCst);
    if !all_shards_reached(
        &shared.connected,
        shard_count,
        Instant::now() + CONNECT_TIMEOUT,
    )
    .await
    {
        let _ = ready.send(Err((id, "the other shards did not start".to_owned())));
        shared.drained.fetch_add(1, Ordering::SeqCst);
        return;
    }

    let limits = ConnectionLimits {
        request_bytes_max: config.request_bytes_max,
        in_flight_requests_max: config.in_flight_requests_per_connection_max,
        idle_timeout: Duration::from_millis(config.connection_idle_timeout_ms),
    };
    let connections_max = config.connections_max.div_ceil(shard_count).max(1);
    let shard = Rc::new(Shard::new(
        id,
        config,
        cluster_id,
        mesh,
        image,
        metadata_log,
    ));
    inbox.serve(shard.clone());

    let started = Instant::now();
    if let Err(error) = shard.open_owned_partitions().await {
        let _ = ready.send(Err((id, error.to_string())));
        shared.drained.fetch_add(1, Ordering::SeqCst);
        return;
    }
    tracing::info!(
        shard = id.0,
        partitions = shard.partitions.count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partitions opened"
    );

    spawn_detached(maintain_logs(shard.clone()));
    spawn_detached(crate::group::run_ticks(shard.clone()));

    let requests = Rc::new(ShardRequests {
        shard: shard.clone(),
    });
    let open = Rc::new(OpenConnections::default());
    let accepting = {
        let open = open.clone();
        let shard = shard.clone();
        crate::runtime::tasks::spawn(listener.accept_until_stopped(move |reader, writer| {
            if open.len() >= connections_max {
                tracing::warn!(
                    peer = %reader.peer(),
                    connections_max_per_core = connections_max,
                    "refusing a connection: too many open"
                );
                return;
            }
            let entry = open.register(&reader);
            let requests = requests.clone();
            let activity = shard.activity.clone();
            spawn_detached(async move {
                serve(requests, reader, writer, limits, activity).await;
                drop(entry);
            });
        }))
    };
    let _ = ready.send(Ok(id));

    while !shared.stop.load(Ordering::SeqCst) {
        sleep(STOP_POLL_INTERVAL).await;
    }
    shard.activity.stop_taking_requests();
    shard.stopping.notify();
    shard.groups.stop();
    open.shut_down_reads();
    accepting.join().await;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while (shard.activity.in_flight_requests() > 0 || !open.is_empty()) && Instant::now() < deadline
    {
        sleep(Duration::from_millis(5)).await;
    }
    if shard.activity.in_flight_requests() > 0 {
        tracing::warn!(
            shard = id.0,
            in_flight = shard.activity.in_flight_requests(),
            "stopping with requests still in flight"
        );
    }
    shared.drained.fetch_add(1, Ordering::SeqCst);
    all_shards_reached(&shared.drained, shard_count, deadline).await;
    shard.partitions.close_all().await;
    shard.mesh.close();
    tracing::info!(shard = id.0, "shard stopped");
}

/// Ticks every partition log (interval flushes, checkpoints) and applies retention, until the
/// shard stops.
async fn maintain_logs(shard: Rc<Shard>) {
    let mut last_retention = Instant::now();
    let mut last_producer_snapshot = Instant::now();
    while !shard.activity.stopping() {
        sleep(LOG_TICK_INTERVAL).await;
        let now = now_ms();
        let retention_due = last_retention.elapsed() >= RETENTION_INTERVAL;
        if retention_due {
            last_retention = Instant::now();
        }
        let producer_snapshot_due = last_producer_snapshot.elapsed() >= PRODUCER_SNAPSHOT_INTERVAL;
        if producer_snapshot_due {
            last_producer_snapshot = Instant::now();
        }
        for partition in shard.partitions.all() {
            if shard.activity.stopping() {
                break;
            }
            let before = partition.high_watermark();
            if let Err(error) = partition.log.tick(now).await {
                tracing::warn!(%error, partition = %format!("{}-{}", partition.topic_name, partition.key.index), "log tick failed");
            }
            if retention_due {
                match partition.log.apply_retention(now).await {
                    Ok(deleted) if !deleted.is_empty() => tracing::info!(
                        partition = %format!("{}-{}", partition.topic_name, partition.key.index),
                        segments = deleted.len(),
                        "retention deleted segments"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "retention failed"),
                }
            }
            if partition.high_watermark() != before {
                partition.data_changed.notify();
            }
            if producer_snapshot_due && partition.producers.borrow().snapshot_due() {
                write_producer_snapshot(&partition);
            }
        }
    }
}
