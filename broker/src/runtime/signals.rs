//! SIGTERM and SIGINT, handled by waiting for them rather than by a handler.
//!
//! The main thread blocks both signals before any executor thread starts (threads inherit the
//! mask) and, once the shards run, waits for one with sigwait(2). That keeps signals away from
//! the executors entirely: no async-signal-safety concerns, no signal landing on a random core.

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

/// Blocks SIGTERM and SIGINT in the calling thread and in every thread it starts afterwards.
pub fn block_termination_signals() -> std::io::Result<()> {
    let set = termination_signals();
    // SAFETY: pthread_sigmask with a valid set and no old-set output.
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if result != 0 {
        return Err(std::io::Error::from_raw_os_error(result));
    }
    Ok(())
}

/// Waits until SIGTERM or SIGINT arrives and returns its number. The signals must be blocked
/// (see [`block_termination_signals`]).
pub fn wait_for_termination_signal() -> i32 {
    let set = termination_signals();
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: sigwait on a set that is blocked in this thread.
        if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
            return signal;
        }
    }
}
