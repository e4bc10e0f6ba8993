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
use std::time::Duration;

use super::net::{split, StreamReader, StreamWriter};

/// Whether the listening socket was shut down (then it no longer accepts: SO_ACCEPTCONN is 0).
fn listener_was_shut_down(fd: std::os::fd::RawFd) -> bool {
    let mut accepting: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a c_int we own, with its size.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut accepting as *mut libc::c_int).cast(),
            &mut length,
        )
    };
    result != 0 || accepting == 0
}

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

    /// Stops every core's accept loop: shutdown(2) on the listening socket wakes each pending
    /// accept with an error, on every duplicate at once. Connections already accepted go on.
    pub fn stop_accepting(&self) {
        // SAFETY: shutdown on a descriptor we own; failure only means it was already shut.
        unsafe {
            libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RD);
        }
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
    /// Accepts connections on the current shard and hands each, split into its reading and
    /// writing sides, to `on_connection`, until [`SharedListener::stop_accepting`] is called.
    /// The descriptor is closed before this returns.
    pub async fn accept_until_stopped(
        self,
        mut on_connection: impl FnMut(StreamReader, StreamWriter),
    ) {
        /// Pause after a failed accept (out of descriptors, say) before trying again.
        const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(20);
        let fd = self.fd.into_raw_fd();
        // SAFETY: `fd` is a bound, listening TCP socket we own; glommio takes ownership.
        let listener = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
        loop {
            match listener.accept().await {
                Ok(stream) => match split(stream) {
                    Ok((reader, writer)) => on_connection(reader, writer),
                    Err(error) => tracing::warn!(%error, "dropping accepted connection"),
                },
                Err(error) => {
                    if listener_was_shut_down(fd) {
                        break;
                    }
                    tracing::warn!(%error, "accept failed; retrying");
                    glommio::timer::sleep(ACCEPT_RETRY_DELAY).await;
                }
            }
        }
        drop(listener);
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
