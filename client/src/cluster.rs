//! Connections to the brokers of one cluster, routed by what a request is about.
//!
//! A [`Cluster`] starts from one reachable bootstrap broker. Metadata requests go there and
//! teach it every broker's address; [`Cluster::node`] then opens (once) the connection to the
//! broker a partition request must reach, its leader, and [`Cluster::coordinator`] finds a
//! group's coordinator with FindCoordinator and keeps that answer until
//! [`Cluster::forget_coordinator`] drops it (after NOT_COORDINATOR, for example).
//!
//! Limits: one connection per broker (opened on first use, never more), and at most
//! [`COORDINATOR_ATTEMPTS_MAX`] FindCoordinator attempts, [`COORDINATOR_RETRY_DELAY`] apart,
//! while the coordinator is still being created or loaded.

use std::collections::HashMap;
use std::time::Duration;

use wire::codec::KStr;
use wire::error_code::ErrorCode;
use wire::messages::find_coordinator_request::FindCoordinatorRequest;
use wire::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use wire::messages::metadata_response::MetadataResponse;
use wire::messages::ApiKey;

use crate::connection::{ClientError, Connection, ConnectionOptions};

/// FindCoordinator attempts while the answer is retriable (the coordinator's partition is
/// being created or loaded).
pub const COORDINATOR_ATTEMPTS_MAX: u32 = 50;
/// Pause between those attempts.
pub const COORDINATOR_RETRY_DELAY: Duration = Duration::from_millis(100);

/// FindCoordinator's key type for a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// The first FindCoordinator version that asks for a list of keys.
const FIND_COORDINATOR_BATCHED_VERSION: i16 = 4;

/// The brokers of one cluster as seen from one client: a bootstrap connection, one
/// connection per broker used since, and the coordinators of the groups asked about.
pub struct Cluster {
    options: ConnectionOptions,
    bootstrap: Connection,
    by_node: HashMap<i32, Connection>,
    /// `host:port` of each broker, from the last metadata or FindCoordinator answer.
    addresses: HashMap<i32, String>,
    /// The coordinator's node id of each group asked about.
    coordinators: HashMap<String, i32>,
}

impl Cluster {
    /// Connects to the first reachable broker of a comma-separated `host:port` list.
    pub fn connect(
        bootstrap_list: &str,
        options: ConnectionOptions,
    ) -> Result<Cluster, ClientError> {
        let mut errors = Vec::new();
        for address in bootstrap_list
            .split(',')
            .map(str::trim)
            .filter(|address| !address.is_empty())
        {
            match Connection::connect_with(address, options.clone()) {
                Ok(bootstrap) => {
                    return Ok(Cluster {
                        options,
                        bootstrap,
                        by_node: HashMap::new(),
                        addresses: HashMap::new(),
                        coordinators: HashMap::new(),
                    })
                }
                Err(error) => errors.push(error.to_string()),
            }
        }
        if errors.is_empty() {
            errors.push(format!("{bootstrap_list:?} names no broker"));
        }
        Err(ClientError::NoBrokerReachable {
            errors: errors.join("; "),
        })
    }

    /// The bootstrap connection: metadata, and admin requests any broker answers.
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Metadata of `topics` (every topic if `None`), creating none.
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse, ClientError> {
        self.metadata_or_create(topics, false)
    }

    /// Metadata of `topics`; with `create`, asks the broker to create missing ones as
    /// producers do (where `auto.create.topics.enable` allows it). Learns every broker's
    /// address from the answer.
    pub fn metadata_or_create(
        &mut self,
        topics: Option<&[String]>,
        create: bool,
    ) -> Result<MetadataResponse, ClientError> {
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
        let response = self.bootstrap.send(request)?;
        for broker in &response.brokers {
            self.addresses
                .insert(broker.node_id, format!("{}:{}", &*broker.host, broker.port));
        }
        Ok(response)
    }

    /// The connection to broker `node_id` (known from metadata or FindCoordinator), opened on
    /// first use.
    pub fn node(&mut self, node_id: i32) -> Result<&mut Connection, ClientError> {
        if !self.by_node.contains_key(&node_id) {
            let address = self
                .addresses
                .get(&node_id)
                .ok_or(ClientError::UnknownBroker { node_id })?;
            let connection = Connection::connect_with(address.as_str(), self.options.clone())?;
            self.by_node.insert(node_id, connection);
        }
        Ok(self.by_node.get_mut(&node_id).expect("inserted above"))
    }

    /// The connection to `group_id`'s coordinator, found with FindCoordinator on first use
    /// and remembered until [`Cluster::forget_coordinator`].
    pub fn coordinator(&mut self, group_id: &str) -> Result<&mut Connection, ClientError> {
        let node_id = match self.coordinators.get(group_id) {
            Some(node_id) => *node_id,
            None => {
                let node_id = self.find_coordinator(group_id)?;
                self.coordinators.insert(group_id.to_owned(), node_id);
                node_id
            }
        };
        self.node(node_id)
    }

    /// Drops what is known of `group_id`'s coordinator (its connection stays open for other
    /// uses); the next [`Cluster::coordinator`] asks again.
    pub fn forget_coordinator(&mut self, group_id: &str) {
        self.coordinators.remove(group_id);
    }

    /// Asks the bootstrap broker for the coordinator of `group_id`, retrying while the answer
    /// is retriable, and records the coordinator's address.
    fn find_coordinator(&mut self, group_id: &str) -> Result<i32, ClientError> {
        let version = self.bootstrap.version_for(ApiKey::FindCoordinator)?;
        let batched = version >= FIND_COORDINATOR_BATCHED_VERSION;
        let mut attempt = 1;
        loop {
            let request = if batched {
                FindCoordinatorRequest {
                    key_type: KEY_TYPE_GROUP,
                    coordinator_keys: vec![KStr::from(group_id.to_owned())],
                    ..Default::default()
                }
            } else {
                FindCoordinatorRequest {
                    key: KStr::from(group_id.to_owned()),
                    key_type: KEY_TYPE_GROUP,
                    ..Default::default()
                }
            };
            let response = self.bootstrap.send_at(version, request)?;
            let (error_code, node_id, host, port) = if batched {
                let coordinator =
                    response
                        .coordinators
                        .first()
                        .ok_or_else(|| ClientError::Decode {
                            api: ApiKey::FindCoordinator.name(),
                            version,
                            peer: self.bootstrap.peer(),
                            message: "no coordinator in the answer".to_owned(),
                        })?;
                (
                    coordinator.error_code,
                    coordinator.node_id,
                    coordinator.host.clone(),
                    coordinator.port,
                )
            } else {
                (
                    response.error_code,
                    response.node_id,
                    response.host.clone(),
                    response.port,
                )
            };
            if error_code == 0 {
                self.addresses.insert(node_id, format!("{}:{port}", &*host));
                return Ok(node_id);
            }
            let retriable = ErrorCode::from_code(error_code).is_some_and(ErrorCode::is_retriable);
            if !retriable || attempt >= COORDINATOR_ATTEMPTS_MAX {
                return Err(ClientError::Kafka {
                    api: ApiKey::FindCoordinator.name(),
                    subject: format!("group {group_id}"),
                    error_code,
                });
            }
            attempt += 1;
            std::thread::sleep(COORDINATOR_RETRY_DELAY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_unreachable_bootstrap_list_is_one_error() {
        let error = Cluster::connect(" , ", ConnectionOptions::default())
            .err()
            .expect("nothing to connect to");
        assert_eq!(
            error.to_string(),
            "no broker reachable: \" , \" names no broker"
        );
        let options = ConnectionOptions {
            timeout: Duration::from_secs(2),
            ..ConnectionOptions::default()
        };
        // Nothing listens on port 1 of the loopback: refused at once.
        let error = Cluster::connect("127.0.0.1:1,127.0.0.1:1", options)
            .err()
            .expect("refused");
        let text = error.to_string();
        assert!(
            text.starts_with("no broker reachable: cannot reach 127.0.0.1:1"),
            "{text}"
        );
        assert_eq!(text.matches("cannot reach").count(), 2, "{text}");
    }

    #[test]
    fn kafka_errors_name_the_code() {
        let error = ClientError::Kafka {
            api: ApiKey::FindCoordinator.name(),
            subject: "group g".to_owned(),
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
        };
        assert_eq!(
            error.to_string(),
            "FindCoordinator for group g: GROUP_AUTHORIZATION_FAILED"
        );
        let unknown = ClientError::Kafka {
            api: "Heartbeat",
            subject: "group g".to_owned(),
            error_code: 999,
        };
        assert_eq!(unknown.to_string(), "Heartbeat for group g: error code 999");
    }
}
