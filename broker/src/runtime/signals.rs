//! SIGTERM and SIGINT turn into a shutdown request that every core can observe.
//!
//! The main thread blocks both signals before any executor thread starts (threads inherit the
//! mask), and one small thread waits for them with sigwait(2). That keeps signal handling out
//! of the executors entirely: no async-signal-safety concerns, no signal landing on a random
//! core. Cores poll [`Shutdown::requested`] from their accept loops at a bounded interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A one-way flag: set once when the broker should stop. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every core to stop.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}

fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a plain sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks SIGTERM and SIGINT in the calling thread (and every thread it starts afterwards) and
/// starts a thread that sets `shutdown` when one arrives. Call before starting executors.
pub fn install(shutdown: Shutdown) -> std::io::Result<()> {
    let set = termination_signals();
    // SAFETY: pthread_sigmask with a valid set and no old-set output.
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if result != 0 {
        return Err(std::io::Error::from_raw_os_error(result));
    }
    std::thread::Builder::new()
        .name("ferrite-signals".to_owned())
        .spawn(move || loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: sigwait on a set that is blocked in this thread.
            let result = unsafe { libc::sigwait(&set, &mut signal) };
            if result == 0 {
                tracing::info!(signal, "termination signal received, shutting down");
                shutdown.request();
                // A second signal while stopping is ignored: the first already asked for it.
            }
        })?;
    Ok(())
}
