//! The commands, one file per group, and what they share: reaching the cluster (through
//! `client::Cluster`) and one-line errors.

mod cluster;
mod data;
mod group;
mod group_consume;
mod group_member;
mod log;
mod topic;

use client::{error_name, Cluster, ConnectionOptions};
use wire::codec::KStr;

use crate::cli::{Cli, Command};

/// A command's failure: one line for the operator (several lines, each printed as its own
/// error line, when a command failed for several independent things, as `group delete` can).
pub type Result<T> = std::result::Result<T, String>;

pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Topic(command) => topic::run(cli, command),
        Command::Produce(arguments) => data::produce(cli, arguments),
        Command::Consume(arguments) => data::consume(cli, arguments),
        Command::Group(command) => group::run(cli, command),
        Command::Cluster(command) => cluster::run(cli, command),
        Command::Log(command) => log::run(cli.format, command),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "ferritectl", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Connects to the cluster named by `--brokers`.
pub fn connect(cli: &Cli) -> Result<Cluster> {
    let options = ConnectionOptions {
        client_id: "ferritectl".to_owned(),
        ..ConnectionOptions::default()
    };
    Cluster::connect(&cli.brokers, options).map_err(|e| e.to_string())
}

/// The topic's metadata, or a clear error if the broker does not know it.
pub fn topic_metadata(
    cluster: &mut Cluster,
    topic: &str,
    create: bool,
) -> Result<wire::messages::metadata_response::MetadataResponseTopic> {
    let metadata = cluster
        .metadata_or_create(Some(&[topic.to_owned()]), create)
        .map_err(|e| e.to_string())?;
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
    Err(format!("{what}: {}", error_name(error_code)))
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
