//! Queues: where tasks wait, and what happens to them after a worker is done.
//!
//! One trait, [`Queue`], with backends as equals. A backend owns delivery
//! (ready, delayed, in flight), acknowledgement together with follow-ups,
//! retries and the dead letters. It does not fetch, route or run plugins:
//! that is the worker's job (`worker.rs`).

pub mod amqp;
pub mod memory;
pub mod redis;
pub mod wire;

use std::future::Future;
use std::time::Duration;

pub use self::redis::RedisQueue;
pub use memory::MemoryQueue;

use crate::kv::KvWrite;
use crate::record::Record;
use crate::task::Task;

/// A task handed to a worker, with the backend's handle on this delivery.
///
/// Exactly one of [`Queue::ack`], [`Queue::fail`] consumes it (or the
/// backend takes it back with [`Queue::hand_back`] when the host stops):
/// the token cannot be copied, so a job cannot be finished twice, and its
/// backend id never leaks into the [`Task`].
#[derive(Debug)]
#[must_use = "a delivery must be acknowledged or failed, or the job stays in flight"]
pub struct Delivery<T> {
    task: Task,
    token: T,
}

impl<T> Delivery<T> {
    /// A delivery of `task` (for backends).
    pub(crate) fn new(task: Task, token: T) -> Self {
        Delivery { task, token }
    }

    /// The task delivered.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The task and the backend's token (for backends, when they consume
    /// the delivery).
    pub(crate) fn into_parts(self) -> (Task, T) {
        (self.task, self.token)
    }
}

/// What a successful job leaves behind for the queue to commit with its
/// acknowledgement. Which fields a backend receives is fixed by its
/// [`Queue::CARRIES`]; the commit pipeline (`commit.rs`) handles the rest
/// before the acknowledgement.
#[derive(Debug, Default)]
pub struct Effects<'a> {
    /// The plugin that handled the job (per-plugin counts).
    pub plugin: &'a str,
    /// Follow-up tasks, enqueued with the acknowledgement.
    pub follow_ups: Vec<Task>,
    /// The job's key-value writes, when the backend carries them.
    pub writes: Vec<KvWrite>,
    /// The job's records, when the records go to the backend's own stream.
    pub records: Vec<Record>,
    /// The job ended on a 304 Not Modified without running its plugin
    /// (`--conditional`): counted as done, and as not modified.
    pub not_modified: bool,
}

/// What a failed job becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Failed {
    /// Run again after `delay`; the attempt counts.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// Why it failed (kept with the task for its next attempt).
        error: String,
    },
    /// Put back for `delay` without counting an attempt: it did not run
    /// (its URL host asked us to wait).
    Defer {
        /// How long to wait.
        delay: Duration,
    },
    /// Move to the dead letters.
    Bury {
        /// The last error.
        error: String,
        /// The plugin it was routed to, if routing got that far (counted
        /// per plugin); else the plugin the task asked for, if any.
        plugin: Option<String>,
    },
}

/// Something that must be durable before jobs are acknowledged (the sink,
/// plugged in by the commit pipeline): a queue that commits
/// acknowledgements in batches calls it before each batch, and does not
/// acknowledge the batch if it fails.
pub trait BeforeAck: Send + Sync {
    /// Make everything written so far durable; the error says what failed.
    fn sync(&self) -> Result<(), String>;
}

/// Which of a job's effects a backend commits in the same step as the
/// acknowledgement (so that none is lost or applied without the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carries {
    /// Key-value writes ([`Effects::writes`]).
    pub kv_writes: bool,
    /// Records, to a stream of the backend's own ([`Effects::records`]).
    pub records: bool,
}

/// An acknowledgement handed to the queue: done already, or on its way.
///
/// A backend that commits acknowledgements in batches over the network
/// (Redis) answers [`Queue::ack`] as soon as the job is in the next batch,
/// and the worker goes on to its next job while the batch is on the wire;
/// it [`wait`](AckReceipt::wait)s for this receipt before it hands in the
/// next one, so each worker has at most one acknowledgement outstanding and
/// sees every failure. Until the receipt resolves, the job is still in
/// flight: it stays leased, and a host that dies first has it redelivered.
#[derive(Debug)]
#[must_use = "an acknowledgement can still fail: wait for its receipt"]
pub struct AckReceipt(Receipt);

#[derive(Debug)]
enum Receipt {
    Done(usize),
    Pending(tokio::sync::oneshot::Receiver<Result<usize, QueueError>>),
}

impl AckReceipt {
    /// Acknowledged already, with `accepted` follow-ups.
    pub fn done(accepted: usize) -> Self {
        AckReceipt(Receipt::Done(accepted))
    }

    /// Acknowledged when `answer` says so.
    pub fn pending(answer: tokio::sync::oneshot::Receiver<Result<usize, QueueError>>) -> Self {
        AckReceipt(Receipt::Pending(answer))
    }

    /// How many follow-ups were accepted, once the acknowledgement is
    /// committed; an error if it could not be.
    pub async fn wait(self) -> Result<usize, QueueError> {
        match self.0 {
            Receipt::Done(accepted) => Ok(accepted),
            Receipt::Pending(answer) => answer
                .await
                .map_err(|_| QueueError::Backend("the acknowledger stopped".into()))?,
        }
    }
}

/// A job that ended dead, kept with everything needed to judge and replay it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The task as it was last delivered (its `attempt` is the count).
    pub task: Task,
    /// The last error.
    pub error: String,
    /// Milliseconds since the Unix epoch when it died.
    pub died_at: u64,
}

impl DeadLetter {
    /// The JSON Lines form: the task (re-runnable with `jobhost run --input`)
    /// plus `error`, `attempts` and `died_at`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = self.task.to_json();
        if let serde_json::Value::Object(obj) = &mut value {
            obj.insert("error".into(), self.error.clone().into());
            obj.insert("attempts".into(), self.task.attempt.into());
            obj.insert("died_at".into(), self.died_at.into());
        }
        value
    }
}

/// Counts a queue keeps for the run summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Tasks accepted (input and follow-ups).
    pub enqueued: u64,
    /// Jobs acknowledged as done.
    pub done: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Jobs in the dead letters.
    pub dead: u64,
    /// Tasks not enqueued because their URL was already seen in this run.
    pub duplicates: u64,
    /// Of the done jobs, those whose document had not changed (a 304 to a
    /// conditional request): their plugin did not run.
    pub not_modified: u64,
}

/// The counts behind [`QueueStats`] that a shared queue keeps as it
/// works (the in-memory queue counts its own way).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub enqueued: std::sync::atomic::AtomicU64,
    pub done: std::sync::atomic::AtomicU64,
    pub not_modified: std::sync::atomic::AtomicU64,
    pub retried: std::sync::atomic::AtomicU64,
    pub dead: std::sync::atomic::AtomicU64,
}

impl Tally {
    /// The counts so far (a shared queue never sees duplicates: `--dedupe`
    /// is the in-memory queue's).
    pub(crate) fn stats(&self) -> QueueStats {
        use std::sync::atomic::Ordering::Relaxed;
        QueueStats {
            enqueued: self.enqueued.load(Relaxed),
            done: self.done.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead: self.dead.load(Relaxed),
            duplicates: 0,
            not_modified: self.not_modified.load(Relaxed),
        }
    }
}

/// The counts of several queues (a host's shards), added up.
impl std::iter::Sum for QueueStats {
    fn sum<I: Iterator<Item = QueueStats>>(iter: I) -> Self {
        iter.fold(QueueStats::default(), |sum, stats| QueueStats {
            enqueued: sum.enqueued + stats.enqueued,
            done: sum.done + stats.done,
            retried: sum.retried + stats.retried,
            dead: sum.dead + stats.dead,
            duplicates: sum.duplicates + stats.duplicates,
            not_modified: sum.not_modified + stats.not_modified,
        })
    }
}

/// A queue backend failed (not a job: the queue itself).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend is unreachable or broken.
    #[error("queue backend failed: {0}")]
    Backend(String),
    /// The queue is misconfigured (bad URL, unreachable at start-up).
    #[error("{0}")]
    Config(String),
}

/// Delivery of tasks to workers, at least once.
///
/// The life of a task: [`push`](Queue::push) → [`pop`](Queue::pop) (now in
/// flight, as a [`Delivery`]) → exactly one of [`ack`](Queue::ack) or
/// [`fail`](Queue::fail), which consume the delivery. A backend never
/// forgets a task in flight. Administration (counts, dead letters) is the
/// backends' own business (`RedisAdmin`, [`MemoryQueue::dead_letters`]).
pub trait Queue: Send + Sync + 'static {
    /// The backend's handle on one delivery.
    type Token: Send + Sync + 'static;

    /// Which effects [`ack`](Queue::ack) commits itself.
    const CARRIES: Carries;

    /// Enqueue tasks; returns how many were accepted (URL de-duplication may
    /// drop some).
    fn push(&self, tasks: Vec<Task>) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// The next task to run, with its `attempt` already counted. Waits while
    /// nothing is ready; `None` once the queue is closed and drained.
    fn pop(&self)
        -> impl Future<Output = Result<Option<Delivery<Self::Token>>, QueueError>> + Send;

    /// The job succeeded: remove it and commit its `effects` (those of
    /// [`CARRIES`](Queue::CARRIES)) in the same step, so that none can be
    /// lost without the others. Returns a receipt that resolves to how many
    /// follow-ups were accepted once the step is committed.
    fn ack(
        &self,
        delivery: Delivery<Self::Token>,
        effects: Effects<'_>,
    ) -> impl Future<Output = Result<AckReceipt, QueueError>> + Send;

    /// The job failed: retry it, put it back, or bury it.
    fn fail(
        &self,
        delivery: Delivery<Self::Token>,
        failed: Failed,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// No more input: [`pop`](Queue::pop) returns `None` once nothing is
    /// ready, delayed or in flight.
    fn close(&self);

    /// Stop fetching new tasks from the backend (first step of a graceful
    /// shutdown; running jobs go on).
    fn stop_intake(&self);

    /// Stop taking new tasks and hand back every task this process holds
    /// but has not finished, at once, for another worker to take.
    fn hand_back(&self) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Wait until the queue has room for more input (the feeder of
    /// `--input` calls it before each batch). Follow-ups and retries never
    /// wait. The default never waits: a queue that stores tasks elsewhere
    /// (Redis) has room by definition.
    fn wait_for_room(&self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    /// Whether no task is waiting in this process for a worker, so that
    /// the next job has to come from the backend (workers use the wait to
    /// make the next plugin instance ahead). The default: never.
    fn is_idle(&self) -> bool {
        false
    }

    /// Counts so far (of this process).
    fn stats(&self) -> QueueStats;
}
