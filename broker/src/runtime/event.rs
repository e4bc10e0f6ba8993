//! A shard-local event: tasks wait until it is notified after a point they saw. Used for
//! "new data in this partition" (fetch long polls) and "the shard is stopping".

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Tasks waiting on one event. A waiter removes itself when it completes or is dropped, so the
/// list holds at most one entry per waiting task.
#[derive(Debug, Default)]
pub struct Event {
    generation: Cell<u64>,
    waiters: RefCell<Vec<(u64, Waker)>>,
}

thread_local! {
    static NEXT_WAITER_ID: Cell<u64> = const { Cell::new(1) };
}

impl Event {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times the event was notified; pass it to [`any_changed`].
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Wakes every waiting task.
    pub fn notify(&self) {
        self.generation.set(self.generation.get() + 1);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    fn register(&self, id: u64, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        match waiters.iter_mut().find(|(waiter, _)| *waiter == id) {
            Some((_, existing)) => existing.clone_from(waker),
            None => waiters.push((id, waker.clone())),
        }
    }

    fn unregister(&self, id: u64) {
        self.waiters
            .borrow_mut()
            .retain(|(waiter, _)| *waiter != id);
    }
}

/// Anything that carries an [`Event`] (a partition carries its "data changed" event).
pub trait HasEvent {
    fn event(&self) -> &Event;
}

impl HasEvent for Event {
    fn event(&self) -> &Event {
        self
    }
}

/// Completes once any of `events` has been notified after its paired generation was read.
pub fn any_changed<E: HasEvent>(events: Vec<(Rc<E>, u64)>) -> impl Future<Output = ()> {
    AnyChanged {
        id: NEXT_WAITER_ID.with(|next| {
            let id = next.get();
            next.set(id + 1);
            id
        }),
        events,
    }
}

struct AnyChanged<E: HasEvent> {
    id: u64,
    events: Vec<(Rc<E>, u64)>,
}

impl<E: HasEvent> Future for AnyChanged<E> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self
            .events
            .iter()
            .any(|(holder, generation)| holder.event().generation() != *generation)
        {
            return Poll::Ready(());
        }
        for (holder, _) in &self.events {
            holder.event().register(self.id, context.waker());
        }
        Poll::Pending
    }
}

impl<E: HasEvent> Drop for AnyChanged<E> {
    fn drop(&mut self) {
        for (holder, _) in &self.events {
            holder.event().unregister(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn waiters_wake_on_notify_and_leave_no_entry_behind() {
        let first = Rc::new(Event::new());
        let second = Rc::new(Event::new());
        let counter = Arc::new(CountingWaker(Default::default()));
        let waker = Waker::from(counter.clone());
        let mut context = Context::from_waker(&waker);
        let mut waiting = Box::pin(any_changed(vec![
            (first.clone(), first.generation()),
            (second.clone(), second.generation()),
        ]));
        assert!(waiting.as_mut().poll(&mut context).is_pending());
        assert!(waiting.as_mut().poll(&mut context).is_pending());
        assert_eq!(
            first.waiters.borrow().len(),
            1,
            "re-polling does not add entries"
        );
        second.notify();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(waiting.as_mut().poll(&mut context).is_ready());
        drop(waiting);
        assert!(
            first.waiters.borrow().is_empty(),
            "a finished waiter unregisters"
        );
    }
}
