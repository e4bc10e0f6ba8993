//! `ferritectl produce` and `consume`: records in from stdin, records out with a template.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use wire::codec::KStr;
use wire::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use wire::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use wire::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use wire::messages::ApiKey;
use wire::records::{Batch, BatchBuilder, BatchOptions, Compression, NewHeader, NewRecord, Record};

use client::Cluster;

use super::{check, connect, key_value, topic_metadata, Result};
use crate::cli::{Cli, Codec, ConsumeArgs, ProduceArgs};
use crate::output;

/// Largest batch or decompressed batch accepted when reading.
const BATCH_BYTES_MAX: usize = 64 << 20;
/// Bytes asked for per fetch and partition.
const FETCH_BYTES: i32 = 4 << 20;
/// Longest a fetch waits on the broker for new records.
const FETCH_WAIT_MS_MAX: u64 = 500;

pub fn produce(cli: &Cli, arguments: &ProduceArgs) -> Result<()> {
    let mut cluster = connect(cli)?;
    let topic = topic_metadata(&mut cluster, &arguments.topic, true)?;
    let partition = topic
        .partitions
        .iter()
        .find(|p| p.partition_index == arguments.partition)
        .ok_or_else(|| {
            format!(
                "topic {} has no partition {}",
                arguments.topic, arguments.partition
            )
        })?;
    let leader = partition.leader_id;
    let headers: Vec<(String, String)> = arguments
        .headers
        .iter()
        .map(|text| key_value(text))
        .collect::<Result<_>>()?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let (mut records, mut first_offset, mut last_offset) = (0u64, None, None);
    loop {
        let mut chunk = Vec::with_capacity(arguments.batch_records);
        for line in lines.by_ref() {
            chunk.push(line.map_err(|e| format!("cannot read stdin: {e}"))?);
            if chunk.len() >= arguments.batch_records.max(1) {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        let batch = build_batch(&chunk, arguments, &headers)?;
        let request = ProduceRequest {
            transactional_id: None,
            acks: arguments.acks,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: KStr::from(arguments.topic.clone()),
                partition_data: vec![PartitionProduceData {
                    index: arguments.partition,
                    records: Some(batch),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let connection = cluster.node(leader).map_err(|e| e.to_string())?;
        if arguments.acks == 0 {
            let version = connection
                .version_for(ApiKey::Produce)
                .map_err(|e| e.to_string())?;
            connection
                .send_without_response(version, request.into())
                .map_err(|e| e.to_string())?;
        } else {
            let response = connection.send(request).map_err(|e| e.to_string())?;
            let result = response
                .responses
                .first()
                .and_then(|topic| topic.partition_responses.first())
                .ok_or("the broker answered Produce with no partition")?;
            check(
                result.error_code,
                &format!("cannot produce to {}", arguments.topic),
            )?;
            first_offset.get_or_insert(result.base_offset);
            last_offset = Some(result.base_offset + chunk.len() as i64 - 1);
        }
        records += chunk.len() as u64;
    }
    output::object(
        cli.format,
        &[
            ("topic", json!(arguments.topic)),
            ("partition", json!(arguments.partition)),
            ("records", json!(records)),
            ("first_offset", json!(first_offset)),
            ("last_offset", json!(last_offset)),
        ],
    );
    Ok(())
}

fn build_batch(
    lines: &[String],
    arguments: &ProduceArgs,
    headers: &[(String, String)],
) -> Result<Bytes> {
    let compression = match arguments.compression {
        Codec::None => Compression::None,
        Codec::Gzip => Compression::Gzip,
        Codec::Snappy => Compression::Snappy,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => Compression::Zstd,
    };
    let mut builder = BatchBuilder::new(BatchOptions {
        compression,
        ..BatchOptions::default()
    });
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64);
    for line in lines {
        let (line_headers, rest) = match &arguments.header_separator {
            Some(separator) => match line.split_once(separator.as_str()) {
                Some((listed, rest)) => (parse_headers(listed)?, rest),
                None => (Vec::new(), line.as_str()),
            },
            None => (Vec::new(), line.as_str()),
        };
        let new_headers: Vec<NewHeader<'_>> = headers
            .iter()
            .chain(&line_headers)
            .map(|(key, value)| NewHeader {
                key: key.as_bytes(),
                value: Some(value.as_bytes()),
            })
            .collect();
        let (key, value) = match &arguments.key_separator {
            Some(separator) => match rest.split_once(separator.as_str()) {
                Some((key, value)) => (Some(key.as_bytes()), value),
                None => (None, rest),
            },
            None => (None, rest),
        };
        builder
            .append(&NewRecord {
                timestamp_ms: now_ms,
                key,
                value: Some(value.as_bytes()),
                headers: &new_headers,
            })
            .map_err(|e| format!("cannot build a batch: {e}"))?;
    }
    Ok(builder
        .finish()
        .map_err(|e| format!("cannot build a batch: {e}"))?
        .freeze())
}

/// `k1=v1,k2=v2` as header pairs (an empty list is no headers).
fn parse_headers(listed: &str) -> Result<Vec<(String, String)>> {
    listed
        .split(',')
        .filter(|item| !item.is_empty())
        .map(key_value)
        .collect()
}

/// The earliest and latest offsets of one partition, asked of its leader.
pub fn partition_offsets(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    leader: i32,
) -> Result<(i64, i64)> {
    Ok((
        list_offset(cluster, topic, partition, leader, -2)?,
        list_offset(cluster, topic, partition, leader, -1)?,
    ))
}

/// ListOffsets for one partition: -2 earliest, -1 latest, otherwise a timestamp (the offset
/// after the last record if none is that late).
pub fn list_offset(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    leader: i32,
    timestamp: i64,
) -> Result<i64> {
    let response = cluster
        .node(leader)
        .map_err(|e| e.to_string())?
        .send(ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: KStr::from(topic.to_owned()),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    timestamp,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    let result = response
        .topics
        .first()
        .and_then(|topic| topic.partitions.first())
        .ok_or("the broker answered ListOffsets with no partition")?;
    check(
        result.error_code,
        &format!("cannot list offsets of {topic}/{partition}"),
    )?;
    if result.offset < 0 {
        return list_offset(cluster, topic, partition, leader, -1);
    }
    Ok(result.offset)
}

/// Where a partition is read from, and its leader.
pub struct Position {
    pub partition: i32,
    pub leader: i32,
    pub next_offset: i64,
}

/// Where `--offset` says to start.
#[derive(Debug, Clone, Copy)]
pub enum StartAt {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

impl StartAt {
    pub fn parse(text: &str) -> Result<StartAt> {
        match text {
            "earliest" | "beginning" => Ok(StartAt::Earliest),
            "latest" | "end" => Ok(StartAt::Latest),
            text => match text.strip_prefix('@') {
                Some(timestamp) => timestamp
                    .parse::<i64>()
                    .map(StartAt::Timestamp)
                    .map_err(|_| format!("{text:?} is not @TIMESTAMP_MS")),
                None => text.parse::<i64>().map(StartAt::Offset).map_err(|_| {
                    format!("--offset {text:?} is not earliest, latest, a number or @TIMESTAMP_MS")
                }),
            },
        }
    }

    /// The offset this means in one partition.
    pub fn resolve(
        self,
        cluster: &mut Cluster,
        topic: &str,
        partition: i32,
        leader: i32,
    ) -> Result<i64> {
        match self {
            StartAt::Earliest => list_offset(cluster, topic, partition, leader, -2),
            StartAt::Latest => list_offset(cluster, topic, partition, leader, -1),
            StartAt::Timestamp(timestamp) => {
                list_offset(cluster, topic, partition, leader, timestamp)
            }
            StartAt::Offset(offset) => Ok(offset),
        }
    }
}

pub fn consume(cli: &Cli, arguments: &ConsumeArgs) -> Result<()> {
    let start_at = StartAt::parse(&arguments.offset)?;
    let mut cluster = connect(cli)?;
    if let Some(group) = &arguments.group {
        return super::group_consume::consume(cli, &mut cluster, arguments, group, start_at);
    }
    let topic = topic_metadata(&mut cluster, &arguments.topic, false)?;
    let mut positions = Vec::new();
    for partition in &topic.partitions {
        if arguments
            .partition
            .is_some_and(|wanted| wanted != partition.partition_index)
        {
            continue;
        }
        let (index, leader) = (partition.partition_index, partition.leader_id);
        positions.push(Position {
            partition: index,
            leader,
            next_offset: start_at.resolve(&mut cluster, &arguments.topic, index, leader)?,
        });
    }
    if positions.is_empty() {
        return Err(format!("topic {} has no such partition", arguments.topic));
    }
    let mut printer = Printer::new(arguments);
    let idle = Duration::from_millis(arguments.idle_ms);
    let mut last_record = Instant::now();
    while !printer.done() && last_record.elapsed() < idle {
        for position in &mut positions {
            let records = fetch(&mut cluster, &arguments.topic, position, arguments.idle_ms)?;
            if printer.print(position.partition, &records)? > 0 {
                last_record = Instant::now();
            }
        }
    }
    printer.flush()
}

/// Prints records with the template until `-n` records are out.
pub struct Printer<'a> {
    template: Template,
    topic: &'a str,
    out: std::io::StdoutLock<'static>,
    printed: u64,
    count: Option<u64>,
}

impl<'a> Printer<'a> {
    pub fn new(arguments: &'a ConsumeArgs) -> Printer<'a> {
        Printer {
            template: Template::parse(&arguments.template),
            topic: &arguments.topic,
            out: std::io::stdout().lock(),
            printed: 0,
            count: arguments.count,
        }
    }

    /// Whether `-n` records are out.
    pub fn done(&self) -> bool {
        self.count.is_some_and(|count| self.printed >= count)
    }

    /// Prints `records` of `partition` in order until `-n` is reached; returns how many it
    /// printed (a prefix of `records`).
    pub fn print(&mut self, partition: i32, records: &[Record]) -> Result<usize> {
        let mut printed = 0;
        for record in records {
            if self.done() {
                break;
            }
            self.template
                .write(&mut self.out, self.topic, partition, record)
                .map_err(|e| format!("cannot write: {e}"))?;
            self.printed += 1;
            printed += 1;
        }
        // Flushed before anything is committed for these records.
        self.out.flush().map_err(|e| format!("cannot write: {e}"))?;
        Ok(printed)
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| format!("cannot write: {e}"))
    }
}

pub fn fetch(
    cluster: &mut Cluster,
    topic: &str,
    position: &mut Position,
    idle_ms: u64,
) -> Result<Vec<Record>> {
    let connection = cluster.node(position.leader).map_err(|e| e.to_string())?;
    // v12 is the newest version that names topics (later ones use topic ids).
    let version = connection
        .version_for(ApiKey::Fetch)
        .map_err(|e| e.to_string())?
        .min(12);
    let response = connection
        .send_at(
            version,
            FetchRequest {
                replica_id: -1,
                max_wait_ms: idle_ms.min(FETCH_WAIT_MS_MAX) as i32,
                min_bytes: 1,
                max_bytes: FETCH_BYTES,
                session_epoch: -1,
                topics: vec![FetchTopic {
                    topic: KStr::from(topic.to_owned()),
                    partitions: vec![FetchPartition {
                        partition: position.partition,
                        fetch_offset: position.next_offset,
                        partition_max_bytes: FETCH_BYTES,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .map_err(|e| e.to_string())?;
    check(response.error_code, "fetch")?;
    let partition = response
        .responses
        .first()
        .and_then(|topic| topic.partitions.first())
        .ok_or("the broker answered Fetch with no partition")?;
    check(
        partition.error_code,
        &format!("cannot fetch {topic}/{}", position.partition),
    )?;
    let mut records = Vec::new();
    for batch in Batch::split(
        partition.records.clone().unwrap_or_default(),
        BATCH_BYTES_MAX,
    ) {
        // A batch cut short by the byte limit ends the response; the next fetch gets it whole.
        let Ok(batch) = batch else { break };
        if batch.header().attributes.is_control() {
            position.next_offset = position
                .next_offset
                .max(batch.header().base_offset + i64::from(batch.header().last_offset_delta) + 1);
            continue;
        }
        let decoded = batch
            .records(BATCH_BYTES_MAX)
            .map_err(|e| format!("cannot read records: {e}"))?;
        for record in decoded {
            let record = record.map_err(|e| format!("cannot read a record: {e}"))?;
            if record.offset() < position.next_offset {
                continue;
            }
            position.next_offset = record.offset() + 1;
            records.push(record);
        }
    }
    Ok(records)
}

/// The output template: literal text and `%x` fields.
struct Template {
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Headers,
    Value,
}

impl Template {
    fn parse(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut characters = text.chars();
        while let Some(character) = characters.next() {
            let field = match character {
                '%' => match characters.next() {
                    Some('t') => Some(Part::Topic),
                    Some('p') => Some(Part::Partition),
                    Some('o') => Some(Part::Offset),
                    Some('T') => Some(Part::Timestamp),
                    Some('k') => Some(Part::Key),
                    Some('h') => Some(Part::Headers),
                    Some('v') | Some('s') => Some(Part::Value),
                    Some(other) => {
                        literal.push('%');
                        literal.push(other);
                        None
                    }
                    None => {
                        literal.push('%');
                        None
                    }
                },
                '\\' => {
                    match characters.next() {
                        Some('n') => literal.push('\n'),
                        Some('t') => literal.push('\t'),
                        Some(other) => {
                            literal.push('\\');
                            literal.push(other);
                        }
                        None => literal.push('\\'),
                    }
                    None
                }
                other => {
                    literal.push(other);
                    None
                }
            };
            if let Some(field) = field {
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(field);
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Template { parts }
    }

    fn write(
        &self,
        out: &mut impl Write,
        topic: &str,
        partition: i32,
        record: &Record,
    ) -> std::io::Result<()> {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.write_all(text.as_bytes())?,
                Part::Topic => out.write_all(topic.as_bytes())?,
                Part::Partition => write!(out, "{partition}")?,
                Part::Offset => write!(out, "{}", record.offset())?,
                Part::Timestamp => write!(out, "{}", record.timestamp())?,
                Part::Key => out.write_all(record.key().map_or(&b""[..], |key| key))?,
                Part::Value => out.write_all(record.value().map_or(&b""[..], |value| value))?,
                Part::Headers => {
                    let headers: Vec<String> = record
                        .headers()
                        .iter()
                        .map(|header| {
                            format!(
                                "{}={}",
                                String::from_utf8_lossy(&header.key),
                                header
                                    .value
                                    .as_ref()
                                    .map_or(String::new(), |v| String::from_utf8_lossy(v)
                                        .into_owned())
                            )
                        })
                        .collect();
                    out.write_all(headers.join(",").as_bytes())?;
                }
            }
        }
        Ok(())
    }
}
