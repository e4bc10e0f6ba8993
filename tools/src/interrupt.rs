//! Ctrl-C (SIGINT) and SIGTERM as a flag that long-running commands poll, so that
//! `consume --group` leaves its group (and the group rebalances at once) instead of dying
//! inside it and being dropped only when its session times out.
//!
//! The handler only stores to an atomic, which is async-signal-safe. Blocking socket reads are
//! restarted after the signal (glibc's `signal` installs handlers with SA_RESTART), so the flag
//! is seen after the current request, within one fetch wait (500 ms).

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// From now on, SIGINT and SIGTERM set the flag instead of ending the process.
pub fn catch() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is an `extern "C"` function that only stores to an atomic.
        unsafe {
            libc::signal(signal, handler as libc::sighandler_t);
        }
    }
}

/// Whether SIGINT or SIGTERM arrived since [`catch`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}
