//! The Kafka listening socket, bound once and shared by every core.
//!
//! glommio's `TcpListener::bind` always sets SO_REUSEPORT, which lets a second broker bind the
//! same port silently and split the connections. Instead the broker binds one ordinary socket
//! (no SO_REUSEPORT) in the main thread, so a taken port fails at start-up with a clear error,
//! and each core accepts on its own duplicate of that descriptor. Closing is explicit: every
//! core drops its duplicate when it stops accepting, and the main thread closes the original
//! before exit, so a restarted broker can bind the port at once.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

/// Why the listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error(
        "cannot listen on {address}: the port is already in use (another broker or program \
         holds it); stop it or choose another --listen address"
    )]
    AddressInUse { address: SocketAddr },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot duplicate the listening socket: {0}")]
    Duplicate(std::io::Error),
}

/// The bound, listening socket. Owned by the main thread; cores get [`ListenerHandle`]s.
#[derive(Debug)]
pub struct SharedListener {
    socket: std::net::TcpListener,
    address: SocketAddr,
}

/// One core's duplicate of the listening descriptor: `Send`, turned into a glommio listener on
/// the core that accepts with it.
#[derive(Debug)]
pub struct ListenerHandle {
    fd: OwnedFd,
}

impl SharedListener {
    /// Binds and listens. Port 0 picks a free port (tests); [`SharedListener::local_addr`]
    /// says which.
    pub fn bind(address: SocketAddr) -> Result<Self, ListenerError> {
        let socket = std::net::TcpListener::bind(address).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                ListenerError::AddressInUse { address }
            } else {
                ListenerError::Bind { address, source }
            }
        })?;
        let address = socket
            .local_addr()
            .map_err(|source| ListenerError::Bind { address, source })?;
        Ok(Self { socket, address })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// A duplicate descriptor for one core.
    pub fn handle(&self) -> Result<ListenerHandle, ListenerError> {
        let duplicate = self.socket.try_clone().map_err(ListenerError::Duplicate)?;
        // SAFETY: into_raw_fd hands over ownership of a valid, open descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(duplicate.into_raw_fd()) };
        Ok(ListenerHandle { fd })
    }
}

impl ListenerHandle {
    /// Turns the descriptor into a listener of the current core's executor. Must be called on
    /// the core that will accept.
    pub fn into_local(self) -> glommio::net::TcpListener {
        let fd = self.fd.into_raw_fd();
        // SAFETY: `fd` is a bound, listening TCP socket we own; glommio takes ownership.
        unsafe { glommio::net::TcpListener::from_raw_fd(fd) }
    }

    /// The raw descriptor (for diagnostics).
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_refused_with_a_clear_error() {
        let first = SharedListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let taken = first.local_addr();
        match SharedListener::bind(taken) {
            Err(ListenerError::AddressInUse { address }) => assert_eq!(address, taken),
            other => panic!("expected AddressInUse, got {other:?}"),
        }
    }

    #[test]
    fn handles_are_distinct_descriptors_of_one_socket() {
        let listener = SharedListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let first = listener.handle().unwrap();
        let second = listener.handle().unwrap();
        assert_ne!(first.raw_fd(), second.raw_fd());
        assert_ne!(first.raw_fd(), listener.socket.as_raw_fd());
    }
}
