//! `ferrite-bench sink`: a minimal Kafka-protocol server that acknowledges every produce and
//! keeps nothing, so a run against it measures the bench's own ceiling.
//!
//! It answers ApiVersions, Metadata, CreateTopics, DeleteTopics, ListOffsets and Produce (at
//! every version `wire` knows, Produce from v3, the first with record batches v2). Produce
//! batches are not decoded: only their header is read to advance the partition's offset.
//! Fetch is not served, so runs against the sink are produce-only (`--consumers 0`).
//!
//! One glommio executor on one core; one task per connection answers its requests in order.
//! Limits: request frames above [`REQUEST_BYTES_MAX`] close the connection; at most
//! [`CONNECTIONS_MAX`] connections are served at once, further ones are closed on accept.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use wire::codec::KStr;
use wire::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use wire::messages::create_topics_response::{CreatableTopicResult, CreateTopicsResponse};
use wire::messages::delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse};
use wire::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use wire::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use wire::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use wire::messages::{
    decode_request_frame_lenient, encode_response_frame, ApiKey, RequestBody, ResponseBody,
};
use wire::records::BatchHeader;

/// Largest request frame served.
pub const REQUEST_BYTES_MAX: usize = 100 << 20;
/// Most connections served at once.
pub const CONNECTIONS_MAX: usize = 1024;
/// Kafka's UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka's UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;
/// The sink's only node id.
const NODE_ID: i32 = 0;

/// Where and how the sink runs.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub listen: SocketAddr,
    pub core: usize,
    pub io_memory_bytes: usize,
}

/// A sink running on its own executor thread; stopped on drop.
pub struct RunningSink {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<glommio::ExecutorJoinHandle<()>>,
}

impl RunningSink {
    pub fn addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, closes the connections and waits for the executor to end.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for RunningSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The APIs the sink answers and the versions it advertises.
fn served_versions() -> Vec<(ApiKey, i16, i16)> {
    [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::ListOffsets,
        ApiKey::Produce,
    ]
    .into_iter()
    .map(|api| {
        let range = api.valid_versions();
        // Record batches v2 start at Produce v3; ListOffsets v0 uses another layout.
        let min = match api {
            ApiKey::Produce => 3,
            ApiKey::ListOffsets => 1,
            _ => range.min,
        };
        (api, min, range.max)
    })
    .collect()
}

/// Starts a sink. A non-zero port is checked with a plain socket first (glommio's listener
/// sets SO_REUSEPORT and would share a port in use without complaint).
pub fn start(options: SinkOptions) -> Result<RunningSink> {
    if options.listen.port() != 0 {
        std::net::TcpListener::bind(options.listen)
            .with_context(|| format!("cannot listen on {}: port in use?", options.listen))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (address_sender, address_receiver) = std::sync::mpsc::channel();
    let stop_flag = stop.clone();
    let listen = options.listen;
    let handle = LocalExecutorBuilder::new(Placement::Fixed(options.core))
        .name("bench-sink")
        .io_memory(options.io_memory_bytes)
        .spawn(move || serve(listen, stop_flag, address_sender))
        .map_err(|error| anyhow!("cannot start the sink on core {}: {error}", options.core))?;
    let address = match address_receiver.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(address)) => address,
        Ok(Err(error)) => {
            let _ = handle.join();
            bail!("cannot listen on {listen}: {error}");
        }
        Err(_) => bail!("the sink did not start listening"),
    };
    Ok(RunningSink {
        address,
        stop,
        handle: Some(handle),
    })
}

/// Topic name → end offset of each partition.
type Topics = Rc<RefCell<HashMap<String, Vec<i64>>>>;

async fn serve(
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
    address: std::sync::mpsc::Sender<Result<SocketAddr, String>>,
) {
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(error) => {
            let _ = address.send(Err(error.to_string()));
            return;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(error) => {
            let _ = address.send(Err(error.to_string()));
            return;
        }
    };
    let _ = address.send(Ok(local));
    let topics: Topics = Rc::default();
    let open = Rc::new(Cell::new(0usize));
    loop {
        let stopped = async {
            while !stop.load(Ordering::Acquire) {
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
            None
        };
        let accepted =
            futures_lite::future::or(async { Some(listener.accept().await) }, stopped).await;
        let stream = match accepted {
            None => break,
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                eprintln!("ferrite-bench sink: accept failed: {error}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if open.get() >= CONNECTIONS_MAX {
            eprintln!("ferrite-bench sink: {CONNECTIONS_MAX} connections open; closing a new one");
            continue;
        }
        open.set(open.get() + 1);
        let topics = topics.clone();
        let open = open.clone();
        let stop = stop.clone();
        glommio::spawn_local(async move {
            let stopped = async {
                while !stop.load(Ordering::Acquire) {
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                }
            };
            futures_lite::future::or(
                async {
                    if let Err(error) = connection(stream, local, &topics).await {
                        if !error.is_empty() {
                            eprintln!("ferrite-bench sink: connection closed: {error}");
                        }
                    }
                },
                stopped,
            )
            .await;
            open.set(open.get() - 1);
        })
        .detach();
    }
}

/// Serves one connection; `Err("")` is a clean close by the peer.
async fn connection(
    mut stream: TcpStream,
    local: SocketAddr,
    topics: &Topics,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).await.is_err() {
            return Err(String::new());
        }
        let size = i32::from_be_bytes(size);
        if size < 0 || size as usize > REQUEST_BYTES_MAX {
            return Err(format!("request frame of {size} bytes refused"));
        }
        let mut frame = vec![0u8; size as usize];
        stream
            .read_exact(&mut frame)
            .await
            .map_err(|error| format!("read failed: {error}"))?;
        let frame = Bytes::from(frame);
        let (header, body, _) = match decode_request_frame_lenient(frame.clone()) {
            Ok(decoded) => decoded,
            Err(error) => {
                // ApiVersions at a version we do not know: answer UNSUPPORTED_VERSION in the
                // v0 layout, as Kafka does, so the client can retry lower.
                if let Ok((ApiKey::ApiVersions, _)) = wire::messages::peek_request_api(&frame) {
                    let correlation_id = frame
                        .get(4..8)
                        .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    let mut response = api_versions();
                    response.error_code = UNSUPPORTED_VERSION;
                    write(&mut stream, correlation_id, 0, &response.into()).await?;
                    continue;
                }
                return Err(format!("undecodable request: {error}"));
            }
        };
        let version = header.request_api_version;
        let response: ResponseBody = match body {
            RequestBody::ApiVersions(_) => api_versions().into(),
            RequestBody::Metadata(request) => {
                let topics = topics.borrow();
                let names: Vec<String> = match &request.topics {
                    Some(list) => list
                        .iter()
                        .filter_map(|t| t.name.as_deref().map(str::to_owned))
                        .collect(),
                    None => topics.keys().cloned().collect(),
                };
                MetadataResponse {
                    brokers: vec![MetadataResponseBroker {
                        node_id: NODE_ID,
                        host: KStr::from(local.ip().to_string()),
                        port: i32::from(local.port()),
                        ..Default::default()
                    }],
                    cluster_id: Some(KStr::from("ferrite-bench-sink")),
                    controller_id: NODE_ID,
                    cluster_authorized_operations: i32::MIN,
                    topics: names
                        .into_iter()
                        .map(|name| {
                            let partitions = topics.get(&name).map_or(0, Vec::len);
                            MetadataResponseTopic {
                                error_code: if topics.contains_key(&name) {
                                    0
                                } else {
                                    UNKNOWN_TOPIC_OR_PARTITION
                                },
                                name: Some(KStr::from(name)),
                                topic_authorized_operations: i32::MIN,
                                partitions: (0..partitions as i32)
                                    .map(|index| MetadataResponsePartition {
                                        partition_index: index,
                                        leader_id: NODE_ID,
                                        replica_nodes: vec![NODE_ID],
                                        isr_nodes: vec![NODE_ID],
                                        ..Default::default()
                                    })
                                    .collect(),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                }
                .into()
            }
            RequestBody::CreateTopics(request) => {
                let mut known = topics.borrow_mut();
                CreateTopicsResponse {
                    topics: request
                        .topics
                        .iter()
                        .map(|topic| {
                            let partitions = topic.num_partitions.clamp(1, 100_000);
                            known
                                .entry(topic.name.to_string())
                                .or_insert_with(|| vec![0; partitions as usize]);
                            CreatableTopicResult {
                                name: topic.name.clone(),
                                num_partitions: partitions,
                                replication_factor: 1,
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                }
                .into()
            }
            RequestBody::DeleteTopics(request) => {
                let mut known = topics.borrow_mut();
                let names: Vec<String> = request
                    .topics
                    .iter()
                    .filter_map(|t| t.name.as_deref().map(str::to_owned))
                    .chain(request.topic_names.iter().map(|n| n.to_string()))
                    .collect();
                DeleteTopicsResponse {
                    responses: names
                        .into_iter()
                        .map(|name| DeletableTopicResult {
                            error_code: if known.remove(&name).is_some() {
                                0
                            } else {
                                UNKNOWN_TOPIC_OR_PARTITION
                            },
                            name: Some(KStr::from(name)),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }
                .into()
            }
            RequestBody::ListOffsets(request) => {
                let known = topics.borrow();
                ListOffsetsResponse {
                    topics: request
                        .topics
                        .iter()
                        .map(|topic| ListOffsetsTopicResponse {
                            name: topic.name.clone(),
                            partitions: topic
                                .partitions
                                .iter()
                                .map(|partition| {
                                    let end = known
                                        .get(&*topic.name)
                                        .and_then(|p| p.get(partition.partition_index as usize));
                                    ListOffsetsPartitionResponse {
                                        partition_index: partition.partition_index,
                                        error_code: if end.is_some() {
                                            0
                                        } else {
                                            UNKNOWN_TOPIC_OR_PARTITION
                                        },
                                        timestamp: -1,
                                        offset: end.copied().unwrap_or(-1),
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }
                .into()
            }
            RequestBody::Produce(request) => {
                let mut known = topics.borrow_mut();
                let response = ProduceResponse {
                    responses: request
                        .topic_data
                        .iter()
                        .map(|topic| TopicProduceResponse {
                            name: topic.name.clone(),
                            partition_responses: topic
                                .partition_data
                                .iter()
                                .map(|data| {
                                    let end = known
                                        .get_mut(&*topic.name)
                                        .and_then(|p| p.get_mut(data.index as usize));
                                    let records = data
                                        .records
                                        .as_ref()
                                        .and_then(|r| BatchHeader::parse(r).ok())
                                        .map_or(0, |h| i64::from(h.last_offset_delta) + 1);
                                    let (error_code, base_offset) = match end {
                                        Some(end) => {
                                            let base = *end;
                                            *end += records;
                                            (0, base)
                                        }
                                        None => (UNKNOWN_TOPIC_OR_PARTITION, -1),
                                    };
                                    PartitionProduceResponse {
                                        index: data.index,
                                        error_code,
                                        base_offset,
                                        log_append_time_ms: -1,
                                        log_start_offset: 0,
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                if request.acks == 0 {
                    continue;
                }
                response.into()
            }
            other => {
                return Err(format!(
                    "{} is not served by the sink",
                    other.api_key().name()
                ))
            }
        };
        write(&mut stream, header.correlation_id, version, &response).await?;
    }
}

fn api_versions() -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: served_versions()
            .into_iter()
            .map(|(api, min, max)| ApiVersion {
                api_key: api.as_i16(),
                min_version: min,
                max_version: max,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn write(
    stream: &mut TcpStream,
    correlation_id: i32,
    version: i16,
    response: &ResponseBody,
) -> Result<(), String> {
    let chunks = encode_response_frame(correlation_id, version, response)
        .map_err(|error| format!("cannot encode a response: {error}"))?;
    for chunk in &chunks {
        stream
            .write_all(chunk)
            .await
            .map_err(|error| format!("write failed: {error}"))?;
    }
    Ok(())
}
