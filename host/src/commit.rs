//! One path for a job's effects: what a job leaves behind (records, key-value
//! writes, follow-ups) and what becomes of it (acknowledged, retried, put
//! back, buried) go through [`Commit`], whatever the queue and the sink.
//!
//! The order is the guarantee. For a job that succeeded:
//! 1. its records go to the sink (validated first, all or none), or, when
//!    the sink is the queue's own stream, with the acknowledgement; a
//!    database sink answers once the transaction holding them committed,
//!    and the job goes on from there in a task of its own (the worker
//!    takes its next job meanwhile);
//! 2. its key-value writes go to the store, or with the acknowledgement
//!    when the queue carries them ([`Carries`]);
//! 3. the queue acknowledges it together with its follow-ups (and whatever
//!    else it carries) in one step. A queue that commits acknowledgements in
//!    batches first calls [`BeforeAck::sync`] on the sink it was given at
//!    start, so that no job is done before its records are durable.
//!
//! A failure at 1 or 2 fails the job instead, so a job is only ever done
//! with all its effects. A failed job is retried with exponential backoff
//! and jitter until its attempts run out, put back without counting an
//! attempt when it did not run, or buried with the plugin it was routed to.
//! This module decides nothing about fetching or plugins: the worker does.

use std::sync::Arc;
use std::time::Duration;

use crate::db::DbSink;
use crate::kv::{AnyKv, KvStore, KvWrite};
use crate::metrics::Metrics;
use crate::queue::{AckReceipt, BeforeAck, Carries, Delivery, Effects, Failed, Queue, QueueError};
use crate::record::Record;
use crate::sink::{Sink, SinkError};
use crate::task::Task;

/// The sink's part in a batching queue's commit: lines written so far reach
/// the file or pipe before the jobs that wrote them are acknowledged.
impl BeforeAck for Sink {
    fn sync(&self) -> Result<(), String> {
        self.flush()
            .map_err(|error| format!("writing the output failed: {error}"))
    }
}

/// Why a job did not succeed, sorted for what becomes of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Trying again would not help (a bad task, a plugin that failed or
    /// trapped, a record that is not what it claims): straight to the dead
    /// letters.
    Permanent(String),
    /// May clear up (the network, a server error, a plugin that asked):
    /// retried until the attempts run out, after `delay` if one was named,
    /// else after the backoff.
    Transient {
        /// What went wrong.
        message: String,
        /// The wait the server or the plugin asked for.
        delay: Option<Duration>,
    },
    /// The job did not run: its URL host asked us to wait. Put back after
    /// `delay` without counting an attempt.
    HeldBack {
        /// Why it waits.
        message: String,
        /// How long.
        delay: Duration,
    },
}

impl Failure {
    /// A transient failure with no delay of its own.
    pub fn transient(message: impl Into<String>) -> Self {
        Failure::Transient {
            message: message.into(),
            delay: None,
        }
    }
}

/// How failed jobs are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Deliveries before a transiently failing job is dead.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt.
    pub base: Duration,
    /// Longest retry delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, then
    /// scaled by a random factor in [0.5, 1.0) so that jobs that failed
    /// together do not all come back together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exponent).min(self.max);
        full.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// What a job on its `attempt`th delivery becomes after `failure`
    /// (`plugin`: where it was routed, if it was).
    pub fn decide(&self, task: &Task, failure: Failure, plugin: Option<&str>) -> Failed {
        let (message, transient) = match failure {
            Failure::HeldBack { delay, .. } => return Failed::Defer { delay },
            Failure::Transient { message, delay } if task.attempt < self.max_attempts => {
                let delay = delay.unwrap_or_else(|| self.backoff(task.attempt));
                return Failed::Retry {
                    delay,
                    error: message,
                };
            }
            Failure::Transient { message, .. } => (message, true),
            Failure::Permanent(message) => (message, false),
        };
        let error = if transient {
            format!("{message} (gave up after {} attempts)", task.attempt)
        } else {
            message
        };
        Failed::Bury {
            error,
            plugin: plugin.map(str::to_owned).or_else(|| task.plugin.clone()),
        }
    }
}

/// What a successful job produced, for [`Commit::done`].
#[derive(Debug, Default)]
pub struct Produced {
    /// Records for the sink.
    pub records: Vec<Record>,
    /// Key-value writes, held back until now.
    pub writes: Vec<KvWrite>,
    /// Follow-up tasks (already checked by the worker).
    pub follow_ups: Vec<Task>,
    /// The document had not changed (a 304): the plugin did not run.
    pub not_modified: bool,
}

/// The commit pipeline of one queue, shared by its workers.
pub struct Commit<Q: Queue> {
    queue: Arc<Q>,
    sink: Arc<Sink>,
    kv: Arc<AnyKv>,
    retry: RetryPolicy,
    /// The records travel with the acknowledgement to the queue's stream.
    records_with_ack: bool,
    /// Outcome counters for `--metrics-addr`.
    metrics: Option<Arc<Metrics>>,
}

impl<Q: Queue> Clone for Commit<Q> {
    fn clone(&self) -> Self {
        Commit {
            queue: self.queue.clone(),
            sink: self.sink.clone(),
            kv: self.kv.clone(),
            retry: self.retry,
            records_with_ack: self.records_with_ack,
            metrics: self.metrics.clone(),
        }
    }
}

impl<Q: Queue> std::fmt::Debug for Commit<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commit")
            .field("retry", &self.retry)
            .field("records_with_ack", &self.records_with_ack)
            .finish_non_exhaustive()
    }
}

impl<Q: Queue> Commit<Q> {
    /// The pipeline from `queue`'s workers to `queue`, `sink` and `kv`.
    /// Fails if the sink is a queue stream and this queue has none.
    pub fn new(
        queue: Arc<Q>,
        sink: Arc<Sink>,
        kv: Arc<AnyKv>,
        retry: RetryPolicy,
    ) -> Result<Self, String> {
        let records_with_ack = sink.stream_name().is_some();
        if records_with_ack && !Q::CARRIES.records {
            return Err(
                "records can go to a Redis stream only with the Redis queue (--queue redis://…)"
                    .into(),
            );
        }
        Ok(Commit {
            queue,
            sink,
            kv,
            retry,
            records_with_ack,
            metrics: None,
        })
    }

    /// Count outcomes into `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The queue.
    pub fn queue(&self) -> &Arc<Q> {
        &self.queue
    }

    /// The key-value store the jobs' writes go to.
    pub fn kv(&self) -> &Arc<AnyKv> {
        &self.kv
    }

    /// How many acknowledgements a worker may leave outstanding while it
    /// runs its next jobs: one (the queue's batch on the wire), or more
    /// when records wait for a database transaction first, so that the
    /// commit's latency does not stall the workers.
    pub fn receipts_ahead(&self) -> usize {
        if self.sink.database().is_some() {
            8
        } else {
            1
        }
    }

    /// The job of `delivery` succeeded with `plugin`: commit what it
    /// produced, then acknowledge it. Returns the acknowledgement's receipt,
    /// or `None` when an effect could not be committed and the job failed
    /// instead. Only a queue failure is an error.
    pub async fn done(
        &self,
        delivery: Delivery<Q::Token>,
        plugin: &str,
        produced: Produced,
    ) -> Result<Option<AckReceipt>, QueueError> {
        let Produced {
            records,
            writes,
            follow_ups,
            not_modified,
        } = produced;
        if not_modified {
            return self
                .after_records(delivery, plugin, writes, follow_ups, Vec::new(), true)
                .await;
        }
        if let Some(db) = self.sink.database() {
            return self
                .done_into_database(db, delivery, plugin, records, writes, follow_ups)
                .await;
        }
        let written = if self.records_with_ack {
            Sink::validate(&records)
        } else {
            self.sink.write(delivery.task(), plugin, &records)
        };
        if let Err(error) = written {
            let failure = match error {
                SinkError::BadJson { .. } => {
                    Failure::Permanent(format!("plugin {plugin}: {error}"))
                }
                // A full disk or closed pipe may clear up.
                SinkError::Io(_) => Failure::transient(error.to_string()),
            };
            return self
                .fail(delivery, failure, Some(plugin))
                .await
                .map(|()| None);
        }
        let records = if self.records_with_ack {
            records
        } else {
            Vec::new()
        };
        self.after_records(delivery, plugin, writes, follow_ups, records, false)
            .await
    }

    /// The records go to the database's writer; a task of its own waits
    /// for their transaction to commit, then goes on as for any sink (kv
    /// writes, then the acknowledgement), so that the worker is free
    /// meanwhile. The receipt resolves when the job is acknowledged, or
    /// failed because the database refused its rows.
    async fn done_into_database(
        &self,
        db: &Arc<DbSink>,
        delivery: Delivery<Q::Token>,
        plugin: &str,
        records: Vec<Record>,
        writes: Vec<KvWrite>,
        follow_ups: Vec<Task>,
    ) -> Result<Option<AckReceipt>, QueueError> {
        let ops = match db.prepare(delivery.task(), plugin, records) {
            Ok(ops) => ops,
            Err(message) => {
                let failure = Failure::Permanent(format!("plugin {plugin}: {message}"));
                return self
                    .fail(delivery, failure, Some(plugin))
                    .await
                    .map(|()| None);
            }
        };
        let committed = db.submit(ops).await;
        let this = self.clone();
        let plugin = plugin.to_owned();
        let (answer, receipt) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let result = match committed.await {
                Ok(Ok(())) => match this
                    .after_records(delivery, &plugin, writes, follow_ups, Vec::new(), false)
                    .await
                {
                    Ok(Some(receipt)) => receipt.wait().await,
                    Ok(None) => Ok(0),
                    Err(error) => Err(error),
                },
                Ok(Err(refused)) => this
                    .fail(delivery, Failure::Permanent(refused), Some(&plugin))
                    .await
                    .map(|()| 0),
                Err(_) => this
                    .fail(
                        delivery,
                        Failure::transient("the database writer stopped before the commit"),
                        Some(&plugin),
                    )
                    .await
                    .map(|()| 0),
            };
            let _ = answer.send(result);
        });
        Ok(Some(AckReceipt::pending(receipt)))
    }

    /// The records are durable (or travel with the acknowledgement):
    /// apply the kv writes the queue does not carry, then acknowledge.
    async fn after_records(
        &self,
        delivery: Delivery<Q::Token>,
        plugin: &str,
        mut writes: Vec<KvWrite>,
        follow_ups: Vec<Task>,
        records: Vec<Record>,
        not_modified: bool,
    ) -> Result<Option<AckReceipt>, QueueError> {
        let carries: Carries = Q::CARRIES;
        if !carries.kv_writes && !writes.is_empty() {
            match self.kv.apply(std::mem::take(&mut writes)).await {
                Ok(warnings) => {
                    for warning in warnings {
                        tracing::warn!(task = %delivery.task().id, plugin, "kv: {warning}");
                    }
                }
                Err(error) => {
                    let failure = Failure::transient(format!(
                        "applying the job's key-value writes failed: {error}"
                    ));
                    return self
                        .fail(delivery, failure, Some(plugin))
                        .await
                        .map(|()| None);
                }
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.done.with_label_values(&[plugin]).inc();
            if not_modified {
                metrics.not_modified.with_label_values(&[plugin]).inc();
            }
        }
        let effects = Effects {
            plugin,
            follow_ups,
            writes,
            records,
            not_modified,
        };
        self.queue.ack(delivery, effects).await.map(Some)
    }

    /// The job of `delivery` failed: retry it, put it back or bury it, as
    /// the retry policy decides. `plugin`: where it was routed, if it was.
    pub async fn fail(
        &self,
        delivery: Delivery<Q::Token>,
        failure: Failure,
        plugin: Option<&str>,
    ) -> Result<(), QueueError> {
        let task = delivery.task();
        let failed = match &failure {
            Failure::HeldBack { message, delay } => {
                tracing::debug!(task = %task.id, "put back for {delay:?}: {message}");
                self.retry.decide(task, failure, plugin)
            }
            _ => {
                let failed = self.retry.decide(task, failure, plugin);
                match &failed {
                    Failed::Retry { delay, error } => {
                        tracing::warn!(task = %task.id, url = %task.url, attempt = task.attempt,
                            plugin = plugin.unwrap_or(""),
                            "job failed, retrying in {delay:?}: {error}");
                    }
                    Failed::Bury { error, .. } => {
                        tracing::error!(task = %task.id, url = %task.url, attempt = task.attempt,
                            plugin = plugin.unwrap_or(""), "job dead: {error}");
                    }
                    Failed::Defer { .. } => {}
                }
                failed
            }
        };
        if let Some(metrics) = &self.metrics {
            match &failed {
                Failed::Retry { .. } => metrics
                    .retried
                    .with_label_values(&[plugin.unwrap_or("")])
                    .inc(),
                Failed::Defer { .. } => metrics.deferred.inc(),
                Failed::Bury { plugin, .. } => metrics
                    .dead
                    .with_label_values(&[plugin.as_deref().unwrap_or("")])
                    .inc(),
            }
        }
        self.queue.fail(delivery, failed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = policy();
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(400));
            let late = policy.backoff(40);
            assert!(late >= Duration::from_millis(500) && late < Duration::from_secs(1));
        }
    }

    #[test]
    fn failures_become_retries_deferrals_or_burials() {
        let policy = policy();
        let mut task = Task::new("https://e/1");
        task.plugin = Some("asked".into());
        task.attempt = 1;
        let named = Failure::Transient {
            message: "503".into(),
            delay: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            policy.decide(&task, named.clone(), Some("routed")),
            Failed::Retry {
                delay: Duration::from_secs(7),
                error: "503".into()
            }
        );
        let held = Failure::HeldBack {
            message: "busy".into(),
            delay: Duration::from_secs(2),
        };
        task.attempt = 3;
        // A deferral does not count: even on the last attempt.
        assert_eq!(
            policy.decide(&task, held, None),
            Failed::Defer {
                delay: Duration::from_secs(2)
            }
        );
        // The last attempt of a transient failure is buried with the count
        // and the plugin it was routed to.
        assert_eq!(
            policy.decide(&task, named, Some("routed")),
            Failed::Bury {
                error: "503 (gave up after 3 attempts)".into(),
                plugin: Some("routed".into())
            }
        );
        // Not routed: the plugin the task asked for.
        task.attempt = 1;
        assert_eq!(
            policy.decide(&task, Failure::Permanent("bad".into()), None),
            Failed::Bury {
                error: "bad".into(),
                plugin: Some("asked".into())
            }
        );
    }
}
