//! Cross-shard calls: shard A asks shard B to run a piece of work on B's state and gets the
//! result back.
//!
//! Every ordered pair of shards has its own bounded channel (glommio's shared channel, a
//! single-producer single-consumer ring between two threads). A call is a boxed closure that
//! the target shard runs on its own state (`Rc<S>`, never shared between threads); the result
//! comes back through a one-shot channel. Calls from one shard to another start on the target
//! in the order they were sent, which is what keeps the appends of one connection in order.
//! A call to the caller's own shard takes the same path without a channel.
//!
//! Cost: a cross-shard round trip is tens of microseconds, so callers batch: one call per
//! target shard per client request, carrying every partition of that shard.
//!
//! Bounds: each channel holds at most [`CALLS_IN_FLIGHT_PER_PAIR_MAX`] calls; a caller waits
//! while its channel to the target is full.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures_channel::oneshot;
use glommio::channels::shared_channel::{self, ConnectedReceiver, ConnectedSender};

use super::executors::ShardId;
use super::tasks::{spawn, spawn_detached, TaskHandle};

/// Calls queued from one shard to another before the caller waits.
pub const CALLS_IN_FLIGHT_PER_PAIR_MAX: usize = 1024;

/// Work for shard state `S`, sent to the shard that owns it.
type Job<S> = Box<dyn FnOnce(Rc<S>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// The target shard has stopped (shutdown) or dropped the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shard {0} is not taking calls")]
pub struct ShardGone(pub usize);

/// One shard's ends of every channel, before its executor connects them. `Send`, so it can
/// be handed to the executor thread.
pub struct MeshEnds<S> {
    shard: ShardId,
    senders: Vec<Option<shared_channel::SharedSender<Job<S>>>>,
    receivers: Vec<shared_channel::SharedReceiver<Job<S>>>,
}

/// Creates the channels between `shard_count` shards; element `i` belongs to shard `i`.
pub fn build_mesh<S: 'static>(shard_count: usize) -> Vec<MeshEnds<S>> {
    let mut ends: Vec<MeshEnds<S>> = (0..shard_count)
        .map(|index| MeshEnds {
            shard: ShardId(index),
            senders: (0..shard_count).map(|_| None).collect(),
            receivers: Vec::new(),
        })
        .collect();
    for from in 0..shard_count {
        for to in 0..shard_count {
            if from == to {
                continue;
            }
            let (sender, receiver) = shared_channel::new_bounded(CALLS_IN_FLIGHT_PER_PAIR_MAX);
            ends[from].senders[to] = Some(sender);
            ends[to].receivers.push(receiver);
        }
    }
    ends
}

/// A shard's side of the mesh: sends calls to other shards.
pub struct ShardMesh<S> {
    shard: ShardId,
    senders: Vec<Option<ConnectedSender<Job<S>>>>,
}

/// Calls arriving at a shard, until [`Inbox::serve`] runs them.
pub struct Inbox<S> {
    receivers: Vec<ConnectedReceiver<Job<S>>>,
}

/// A call that has been queued on its target; await [`PendingCall::result`] for its result.
pub struct PendingCall<R> {
    target: ShardId,
    reply: oneshot::Receiver<R>,
}

impl<R> PendingCall<R> {
    pub async fn result(self) -> Result<R, ShardGone> {
        self.reply.await.map_err(|_| ShardGone(self.target.0))
    }
}

impl<S: 'static> MeshEnds<S> {
    /// Connects the ends on the current executor (which must be this shard's). Each end's
    /// connect waits for the other shard to connect its end, so all are connected at once
    /// (one after another would deadlock two shards each waiting for the other).
    pub async fn connect(self) -> (ShardMesh<S>, Inbox<S>) {
        let sending: Vec<Option<TaskHandle<ConnectedSender<Job<S>>>>> = self
            .senders
            .into_iter()
            .map(|sender| sender.map(|sender| spawn(sender.connect())))
            .collect();
        let receiving: Vec<TaskHandle<ConnectedReceiver<Job<S>>>> = self
            .receivers
            .into_iter()
            .map(|receiver| spawn(receiver.connect()))
            .collect();
        let mut senders = Vec::with_capacity(sending.len());
        for sender in sending {
            senders.push(match sender {
                Some(task) => Some(task.join().await),
                None => None,
            });
        }
        let mut receivers = Vec::with_capacity(receiving.len());
        for task in receiving {
            receivers.push(task.join().await);
        }
        (
            ShardMesh {
                shard: self.shard,
                senders,
            },
            Inbox { receivers },
        )
    }
}

impl<S: 'static> Inbox<S> {
    /// Runs every arriving call on `state`, each as its own task, in arrival order per sender.
    /// Returns at once; the serving tasks end when the sending shards drop their meshes.
    pub fn serve(self, state: Rc<S>) {
        for receiver in self.receivers {
            let state = state.clone();
            spawn_detached(async move {
                while let Some(job) = receiver.recv().await {
                    spawn_detached(job(state.clone()));
                }
            });
        }
    }
}

impl<S: 'static> ShardMesh<S> {
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    pub fn shard_count(&self) -> usize {
        self.senders.len()
    }

    /// Queues `work` on `target` (waiting while the channel to it is full) and returns once it
    /// is queued; the result comes from the returned [`PendingCall`]. `state` is this shard's
    /// own state, used when `target` is this shard.
    pub async fn start_call<R, F, Fut>(
        &self,
        target: ShardId,
        state: &Rc<S>,
        work: F,
    ) -> Result<PendingCall<R>, ShardGone>
    where
        R: Send + 'static,
        F: FnOnce(Rc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        let (reply_sender, reply) = oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            Box::pin(async move {
                let result = work(state).await;
                // The caller may have gone (its connection closed): the result is dropped.
                let _ = reply_sender.send(result);
            })
        });
        if target == self.shard {
            spawn_detached(job(state.clone()));
        } else {
            let sender = self
                .senders
                .get(target.0)
                .and_then(Option::as_ref)
                .ok_or(ShardGone(target.0))?;
            if sender.send(job).await.is_err() {
                return Err(ShardGone(target.0));
            }
        }
        Ok(PendingCall { target, reply })
    }

    /// Runs `work` on `target` and waits for its result.
    pub async fn call<R, F, Fut>(
        &self,
        target: ShardId,
        state: &Rc<S>,
        work: F,
    ) -> Result<R, ShardGone>
    where
        R: Send + 'static,
        F: FnOnce(Rc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        self.start_call(target, state, work).await?.result().await
    }

    /// Stops sending: the target shards' inbox tasks end once they drained what was sent.
    pub fn close(&self) {
        for sender in self.senders.iter().flatten() {
            sender.close();
        }
    }
}
