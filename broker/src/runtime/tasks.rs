//! Spawning work on the current shard, and shard-local bounded queues.

use std::future::Future;

/// Runs `work` on the current shard in the background.
pub fn spawn_detached(work: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(work).detach();
}

/// The receiving side of a queue is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueClosed;

/// A task running on the current shard; awaiting [`TaskHandle::join`] gives its result.
pub struct TaskHandle<T> {
    task: glommio::Task<T>,
}

/// Runs `work` on the current shard; the handle waits for its result.
pub fn spawn<T: 'static>(work: impl Future<Output = T> + 'static) -> TaskHandle<T> {
    TaskHandle {
        task: glommio::spawn_local(work),
    }
}

impl<T> TaskHandle<T> {
    pub async fn join(self) -> T {
        self.task.await
    }
}

/// The sending side of a bounded queue between two tasks of one shard.
pub struct QueueSender<T> {
    inner: glommio::channels::local_channel::LocalSender<T>,
}

/// The receiving side of a bounded queue between two tasks of one shard.
pub struct QueueReceiver<T> {
    inner: glommio::channels::local_channel::LocalReceiver<T>,
}

/// A queue holding at most `capacity` items; senders wait while it is full.
pub fn bounded_queue<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let (sender, receiver) = glommio::channels::local_channel::new_bounded(capacity);
    (
        QueueSender { inner: sender },
        QueueReceiver { inner: receiver },
    )
}

impl<T> QueueSender<T> {
    /// Waits for room and enqueues; fails (dropping the item) when the receiver is gone.
    pub async fn send(&self, item: T) -> Result<(), QueueClosed> {
        self.inner.send(item).await.map_err(|_| QueueClosed)
    }
}

impl<T> QueueReceiver<T> {
    /// The next item, or `None` once every sender is gone and the queue is empty.
    pub async fn recv(&self) -> Option<T> {
        self.inner.recv().await
    }
}

/// Lets one task at a time through a section that spans awaits (for example a metadata change
/// and its broadcast to every shard), in arrival order.
pub struct Serializer {
    permits: glommio::sync::Semaphore,
}

/// Held while inside the serialized section.
pub struct SerializerTurn<'a> {
    _permit: glommio::sync::Permit<'a>,
}

impl Default for Serializer {
    fn default() -> Self {
        Self::new()
    }
}

impl Serializer {
    pub fn new() -> Self {
        Self {
            permits: glommio::sync::Semaphore::new(1),
        }
    }

    /// Waits for this task's turn.
    pub async fn turn(&self) -> SerializerTurn<'_> {
        let permit = self
            .permits
            .acquire_permit(1)
            .await
            .expect("the serializer's semaphore is never closed");
        SerializerTurn { _permit: permit }
    }
}
