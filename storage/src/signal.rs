//! A single-core "something changed" notification that every waiting append or flush polls.
//!
//! Owned by one log on one core (not `Send`). Waiters read the epoch, check their condition,
//! and if it does not hold yet, wait for the epoch to move. Every state change of the log
//! (a write or fdatasync completing, a failure, a roll finishing) calls [`Signal::notify`].
//! The waker list is bounded by the number of tasks waiting on the log at once, and each
//! waiting future registers at most once per epoch.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    task::{Context, Poll, Waker},
};

#[derive(Default)]
pub(crate) struct Signal {
    epoch: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Signal {
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.get()
    }

    pub(crate) fn notify(&self) {
        self.epoch.set(self.epoch.get() + 1);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for waker in wakers {
            waker.wake();
        }
    }

    /// Completes once the epoch differs from `seen`.
    pub(crate) fn changed(&self, seen: u64) -> Changed<'_> {
        Changed {
            signal: self,
            seen,
            registered: false,
        }
    }
}

pub(crate) struct Changed<'a> {
    signal: &'a Signal,
    seen: u64,
    registered: bool,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.signal.epoch.get() != self.seen {
            return Poll::Ready(());
        }
        if !self.registered {
            self.signal
                .wakers
                .borrow_mut()
                .push(context.waker().clone());
            self.registered = true;
        }
        Poll::Pending
    }
}

/// A future that returns `Pending` once (waking itself) and then completes: lets other tasks
/// of the core run. Used by the simulated file system to interleave operations.
pub(crate) struct YieldOnce(bool);

impl YieldOnce {
    pub(crate) fn new() -> Self {
        Self(false)
    }
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        context.waker().wake_by_ref();
        Poll::Pending
    }
}
