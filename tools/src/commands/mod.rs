//! The commands, one file per group, and what they share: reaching brokers and Kafka errors.

mod cluster;
mod data;
mod log;
mod topic;

use std::collections::HashMap;

use client::Connection;
use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use wire::messages::metadata_response::MetadataResponse;

use crate::cli::{Cli, Command};

/// A command's failure: one line for the operator.
pub type Result<T> = std::result::Result<T, String>;

pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Topic(command) => topic::run(cli, command),
        Command::Produce(arguments) => data::produce(cli, arguments),
        Command::Consume(arguments) => data::consume(cli, arguments),
        Command::Cluster(command) => cluster::run(cli, command),
        Command::Log(command) => log::run(cli.format, command),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "ferritectl", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Connections to the brokers of one cluster: the first reachable bootstrap broker, and one
/// per broker that leads a partition a command touches.
pub struct Brokers {
    bootstrap: Connection,
    by_node: HashMap<i32, Connection>,
    addresses: HashMap<i32, String>,
}

impl Brokers {
    pub fn connect(list: &str) -> Result<Brokers> {
        let mut errors = Vec::new();
        for address in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match Connection::connect(address) {
                Ok(bootstrap) => {
                    return Ok(Brokers {
                        bootstrap,
                        by_node: HashMap::new(),
                        addresses: HashMap::new(),
                    })
                }
                Err(error) => errors.push(error.to_string()),
            }
        }
        Err(format!("no broker reachable: {}", errors.join("; ")))
    }

    /// The bootstrap connection (admin requests on a single node, metadata).
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Metadata of `topics` (all topics if `None`), without creating any.
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse> {
        self.metadata_or_create(topics, false)
    }

    /// Metadata of `topics`; with `create`, asks the broker to create missing ones as
    /// producers do (where `auto.create.topics.enable` allows it).
    pub fn metadata_or_create(
        &mut self,
        topics: Option<&[String]>,
        create: bool,
    ) -> Result<MetadataResponse> {
        let request = MetadataRequest {
            topics: topics.map(|names| {
                names
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(KStr::from(name.clone())),
                        ..Default::default()
                    })
                    .collect()
            }),
            allow_auto_topic_creation: create,
            ..Default::default()
        };
        let response = self.bootstrap.send(request).map_err(|e| e.to_string())?;
        for broker in &response.brokers {
            self.addresses
                .insert(broker.node_id, format!("{}:{}", &*broker.host, broker.port));
        }
        Ok(response)
    }

    /// The connection to broker `node_id` (from the last metadata), opened on first use.
    pub fn node(&mut self, node_id: i32) -> Result<&mut Connection> {
        if !self.by_node.contains_key(&node_id) {
            let address = self
                .addresses
                .get(&node_id)
                .ok_or_else(|| format!("broker {node_id} is not in the cluster's metadata"))?;
            let connection = Connection::connect(address.as_str()).map_err(|e| e.to_string())?;
            self.by_node.insert(node_id, connection);
        }
        Ok(self.by_node.get_mut(&node_id).expect("inserted above"))
    }
}

/// The topic's metadata, or a clear error if the broker does not know it.
pub fn topic_metadata(
    brokers: &mut Brokers,
    topic: &str,
    create: bool,
) -> Result<wire::messages::metadata_response::MetadataResponseTopic> {
    let metadata = brokers.metadata_or_create(Some(&[topic.to_owned()]), create)?;
    let found = metadata
        .topics
        .into_iter()
        .next()
        .ok_or_else(|| format!("the broker did not describe topic {topic}"))?;
    check(found.error_code, &format!("topic {topic}"))?;
    Ok(found)
}

/// Turns a Kafka error code into a one-line error naming `what`.
pub fn check(error_code: i16, what: &str) -> Result<()> {
    if error_code == 0 {
        return Ok(());
    }
    let name = ErrorCode::from_code(error_code).map_or_else(
        || format!("error code {error_code}"),
        |code| code.name().to_owned(),
    );
    Err(format!("{what}: {name}"))
}

/// Like [`check`], with the broker's message when it sent one.
pub fn check_with_message(error_code: i16, message: Option<&KStr>, what: &str) -> Result<()> {
    check(error_code, what).map_err(|error| match message {
        Some(message) if !message.is_empty() => format!("{error} ({})", &**message),
        _ => error,
    })
}

/// Splits `key=value`.
pub fn key_value(text: &str) -> Result<(String, String)> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}
