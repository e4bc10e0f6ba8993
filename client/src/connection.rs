//! One TCP connection to a Kafka broker: frames out, frames in, versions negotiated.
//!
//! [`Connection::connect`] opens the socket and asks the broker which versions of each API it
//! supports (ApiVersions, with the v0 fallback Kafka defines). [`Connection::send`] then sends a
//! typed request at the highest version both sides know, or [`Connection::send_at`] at a chosen
//! one, and waits for the typed response. One request is in flight at a time; responses are
//! checked to carry the request's correlation id.
//!
//! Limits: a response frame larger than [`ConnectionOptions::response_bytes_max`] is refused
//! before anything is allocated for it, and every read and write is bounded by
//! [`ConnectionOptions::timeout`].

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use wire::codec::KStr;
use wire::messages::{
    decode_response_frame, encode_request_frame, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    KafkaRequest, RequestBody, RequestHeader, ResponseBody,
};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connection to {peer} failed: {source}")]
    Io {
        peer: SocketAddr,
        source: std::io::Error,
    },
    #[error("{peer} closed the connection")]
    Closed { peer: SocketAddr },
    #[error("{api} is not supported by {peer} (it supports {supported})")]
    Unsupported {
        api: &'static str,
        peer: SocketAddr,
        supported: String,
    },
    #[error("cannot encode the {api} request: {message}")]
    Encode { api: &'static str, message: String },
    #[error("cannot decode the {api} v{version} response from {peer}: {message}")]
    Decode {
        api: &'static str,
        version: i16,
        peer: SocketAddr,
        message: String,
    },
    #[error("{peer} sent a {size}-byte response frame; the limit is {max}")]
    ResponseTooLarge {
        peer: SocketAddr,
        size: i64,
        max: usize,
    },
    #[error("{peer} answered correlation id {received} to request {expected}")]
    CorrelationMismatch {
        peer: SocketAddr,
        expected: i32,
        received: i32,
    },
    #[error("{peer} refused ApiVersions with error code {error_code}")]
    ApiVersions { peer: SocketAddr, error_code: i16 },
    #[error("no broker reachable: {errors}")]
    NoBrokerReachable { errors: String },
    #[error("broker {node_id} is not in the cluster's metadata")]
    UnknownBroker { node_id: i32 },
    /// The broker answered with a Kafka error code where the client cannot go on.
    #[error("{api} for {subject}: {}", error_name(*.error_code))]
    Kafka {
        api: &'static str,
        subject: String,
        error_code: i16,
    },
}

/// Kafka's name for `error_code` (`GROUP_ID_NOT_FOUND`), or the number if `wire` does not
/// know it.
pub fn error_name(error_code: i16) -> String {
    wire::error_code::ErrorCode::from_code(error_code).map_or_else(
        || format!("error code {error_code}"),
        |code| code.name().to_owned(),
    )
}

/// How a connection behaves.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Sent as the request header's client id.
    pub client_id: String,
    /// Bound on connecting and on each read and write.
    pub timeout: Duration,
    /// Largest response frame accepted.
    pub response_bytes_max: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            client_id: "ferrite-client".to_owned(),
            timeout: Duration::from_secs(30),
            response_bytes_max: 256 << 20,
        }
    }
}

/// A connection to one broker, with the API versions it advertised.
pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    options: ConnectionOptions,
    next_correlation_id: i32,
    /// The broker's supported versions per API key, from ApiVersions.
    broker_versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects with default options and negotiates versions.
    pub fn connect(address: impl ToSocketAddrs + std::fmt::Display) -> Result<Self, ClientError> {
        Self::connect_with(address, ConnectionOptions::default())
    }

    /// Connects and negotiates versions (ApiVersions v3, falling back to the version the broker
    /// names, as Kafka clients do).
    pub fn connect_with(
        address: impl ToSocketAddrs + std::fmt::Display,
        options: ConnectionOptions,
    ) -> Result<Self, ClientError> {
        let mut connection = Self::connect_raw(&address, options)?;
        let versions = connection.fetch_api_versions()?;
        connection.broker_versions = versions
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        Ok(connection)
    }

    /// Connects without asking for versions: [`Connection::send`] then uses the newest version
    /// `wire` knows, so use [`Connection::send_at`].
    pub fn connect_raw(
        address: &(impl ToSocketAddrs + std::fmt::Display),
        options: ConnectionOptions,
    ) -> Result<Self, ClientError> {
        let connect_error = |source| ClientError::Connect {
            address: address.to_string(),
            source,
        };
        let mut last_error = None;
        let addresses = address.to_socket_addrs().map_err(connect_error)?;
        for peer in addresses {
            match TcpStream::connect_timeout(&peer, options.timeout) {
                Ok(stream) => {
                    let io = |source| ClientError::Io { peer, source };
                    stream.set_read_timeout(Some(options.timeout)).map_err(io)?;
                    stream
                        .set_write_timeout(Some(options.timeout))
                        .map_err(io)?;
                    stream.set_nodelay(true).map_err(io)?;
                    return Ok(Connection {
                        stream,
                        peer,
                        options,
                        next_correlation_id: 1,
                        broker_versions: HashMap::new(),
                    });
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(connect_error(last_error.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
        })))
    }

    fn fetch_api_versions(&mut self) -> Result<ApiVersionsResponse, ClientError> {
        let request = ApiVersionsRequest {
            client_software_name: KStr::from_static("ferrite-client"),
            client_software_version: KStr::from_static(env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let response = self.send_at(3, request.clone())?;
        if response.error_code == 0 {
            return Ok(response);
        }
        // UNSUPPORTED_VERSION: the broker lists what it supports in the v0 layout.
        let fallback = response
            .api_keys
            .iter()
            .find(|api| api.api_key == ApiKey::ApiVersions.as_i16())
            .map(|api| api.max_version.min(3));
        match fallback {
            Some(version) if version >= 0 => {
                let response = self.send_at(version, request)?;
                if response.error_code == 0 {
                    return Ok(response);
                }
                Err(ClientError::ApiVersions {
                    peer: self.peer,
                    error_code: response.error_code,
                })
            }
            _ => Err(ClientError::ApiVersions {
                peer: self.peer,
                error_code: response.error_code,
            }),
        }
    }

    /// The broker this connection talks to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The versions of `api` the broker advertised, if any.
    pub fn broker_versions(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.broker_versions.get(&api.as_i16()).copied()
    }

    /// The highest version of `api` both this client (through `wire`) and the broker support.
    pub fn version_for(&self, api: ApiKey) -> Result<i16, ClientError> {
        let ours = api.valid_versions();
        let unsupported = |supported: String| ClientError::Unsupported {
            api: api.name(),
            peer: self.peer,
            supported,
        };
        let Some((min, max)) = self.broker_versions(api) else {
            return Err(unsupported("no version".to_owned()));
        };
        let version = max.min(ours.max);
        if version < min.max(ours.min) {
            return Err(unsupported(format!("v{min}-v{max}")));
        }
        Ok(version)
    }

    /// Sends `request` at the highest version both sides support and returns its response.
    pub fn send<R: KafkaRequest>(&mut self, request: R) -> Result<R::Response, ClientError> {
        let version = self.version_for(R::API_KEY)?;
        self.send_at(version, request)
    }

    /// Sends `request` at `version` and returns its response.
    pub fn send_at<R: KafkaRequest>(
        &mut self,
        version: i16,
        request: R,
    ) -> Result<R::Response, ClientError> {
        let body = self.send_body(version, request.into())?;
        R::Response::try_from(body).map_err(|other| ClientError::Decode {
            api: R::API_KEY.name(),
            version,
            peer: self.peer,
            message: format!("got a {} response", other.api_key().name()),
        })
    }

    /// Sends any request body at `version` and returns the response body.
    pub fn send_body(
        &mut self,
        version: i16,
        body: RequestBody,
    ) -> Result<ResponseBody, ClientError> {
        let api = body.api_key();
        let correlation_id = self.write_request(version, &body)?;
        self.read_response(api, version, correlation_id)
    }

    /// Sends a request whose response will not come (Produce with acks=0).
    pub fn send_without_response(
        &mut self,
        version: i16,
        body: RequestBody,
    ) -> Result<(), ClientError> {
        self.write_request(version, &body).map(|_| ())
    }

    /// Writes raw bytes to the socket (tests of malformed input use it).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let peer = self.peer;
        self.stream
            .write_all(bytes)
            .map_err(|source| ClientError::Io { peer, source })
    }

    fn write_request(&mut self, version: i16, body: &RequestBody) -> Result<i32, ClientError> {
        let api = body.api_key();
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api.as_i16(),
            request_api_version: version,
            correlation_id,
            client_id: Some(KStr::from(self.options.client_id.clone())),
            ..Default::default()
        };
        let frame = encode_request_frame(&header, body).map_err(|error| ClientError::Encode {
            api: api.name(),
            message: error.to_string(),
        })?;
        self.write_raw(&frame)?;
        Ok(correlation_id)
    }

    fn read_response(
        &mut self,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Result<ResponseBody, ClientError> {
        let frame = self.read_frame()?;
        decode_response(self.peer, api, version, correlation_id, frame)
    }

    /// Reads one response frame (without its size prefix).
    pub fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let peer = self.peer;
        let io = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                ClientError::Closed { peer }
            }
            _ => ClientError::Io { peer, source },
        };
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(io)?;
        let size = response_frame_size(peer, size, self.options.response_bytes_max)?;
        let mut frame = vec![0u8; size];
        self.stream.read_exact(&mut frame).map_err(io)?;
        Ok(Bytes::from(frame))
    }
}

/// The size of a response frame from its 4-byte prefix, checked against `max` before anything
/// is allocated for it (any client on `wire`, synchronous or not, reads frames this way).
pub fn response_frame_size(
    peer: SocketAddr,
    prefix: [u8; 4],
    max: usize,
) -> Result<usize, ClientError> {
    let size = i32::from_be_bytes(prefix);
    match usize::try_from(size) {
        Ok(size) if size <= max => Ok(size),
        _ => Err(ClientError::ResponseTooLarge {
            peer,
            size: i64::from(size),
            max,
        }),
    }
}

/// Decodes a response frame to the request `correlation_id` of `api` sent at `version`.
pub fn decode_response(
    peer: SocketAddr,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<ResponseBody, ClientError> {
    let (header, body) =
        decode_response_frame(api, version, frame).map_err(|error| ClientError::Decode {
            api: api.name(),
            version,
            peer,
            message: error.to_string(),
        })?;
    if header.correlation_id != correlation_id {
        return Err(ClientError::CorrelationMismatch {
            peer,
            expected: correlation_id,
            received: header.correlation_id,
        });
    }
    Ok(body)
}
