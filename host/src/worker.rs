//! The worker loop: take a task, fetch, route, run the plugin, record, ack.
//!
//! Each worker is a tokio task; `--concurrency` of them share one queue. The
//! order of the steps is what makes delivery safe: records reach the sink,
//! and follow-ups and the plugin's key-value writes are handed to the queue
//! *with* the acknowledgement (or, for a queue that cannot take the writes,
//! applied just before it), so a job is only ever done with all its effects
//! or not at all. Failures are sorted
//! here into transient (retry with exponential backoff and jitter, until the
//! attempts run out) and permanent (straight to the dead letters).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::fetch::{FetchError, Fetched, Fetcher};
use crate::kv::{AnyKv, KvStore};
use crate::politeness::{url_host, Politeness};
use crate::queue::{AckReceipt, Completion, Queue, QueueError};
use crate::routing::Router;
use crate::runtime::CallError;
use crate::sink::{Sink, SinkError};
use crate::task::{check_url, now_millis, valid_plugin_name, Task};

/// Retry and crawl settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Workers taking jobs at once.
    pub concurrency: usize,
    /// Deliveries before a transiently failing job is dead.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Follow-ups deeper than this are dropped (input tasks are depth 0).
    pub max_depth: Option<u32>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 64,
            max_attempts: 5,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_depth: None,
        }
    }
}

/// Counts the workers keep beside the queue's own.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Follow-ups dropped for exceeding the maximum depth.
    pub too_deep: AtomicU64,
    /// Follow-ups dropped for a bad URL or plugin name.
    pub bad_follow_ups: AtomicU64,
}

/// Everything a worker needs, shared by all of them.
pub struct Workers<Q> {
    /// The queue.
    pub queue: Arc<Q>,
    /// The plugins' key-value store, where a successful job's writes go
    /// when the queue does not apply them itself.
    pub kv: Arc<AnyKv>,
    /// Plugin routing.
    pub router: Router,
    /// The fetcher.
    pub fetcher: Fetcher,
    /// Per URL host limits and hold-backs.
    pub politeness: Arc<Politeness>,
    /// Where records go.
    pub sink: Arc<Sink>,
    /// Settings.
    pub config: WorkerConfig,
    /// Counters.
    pub stats: WorkerStats,
    /// Becomes true when the workers must stop taking jobs.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

/// Why a job did not succeed, sorted for the retry decision.
#[derive(Debug)]
struct Failure {
    message: String,
    transient: bool,
    delay: Option<Duration>,
    /// The job did not run (its URL host asked us to wait): put it back
    /// after `delay` without counting an attempt.
    defer: bool,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            transient: false,
            delay: None,
            defer: false,
        }
    }

    fn transient(message: impl Into<String>, delay: Option<Duration>) -> Self {
        Failure {
            message: message.into(),
            transient: true,
            delay,
            defer: false,
        }
    }
}

impl From<FetchError> for Failure {
    fn from(error: FetchError) -> Self {
        Failure {
            transient: error.is_transient(),
            delay: error.retry_after(),
            message: error.to_string(),
            defer: false,
        }
    }
}

impl<Q: Queue> Workers<Q> {
    /// Run `concurrency` workers until the queue is drained, a stop is
    /// asked for, or the queue fails. Dropping the returned future (or
    /// aborting its task) aborts every worker: they live in a `JoinSet`.
    pub async fn run(self: Arc<Self>) -> Result<(), QueueError> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..self.config.concurrency.max(1) {
            let workers = self.clone();
            set.spawn(async move { workers.work().await });
        }
        let mut result = Ok(());
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    // A queue that fails for good (not an outage, which the
                    // backend waits out) stops every worker, so the failure
                    // shows at once instead of a host quietly shrinking.
                    tracing::error!("a worker stopped: {error}");
                    set.abort_all();
                    result = Err(error);
                }
                Err(join) if join.is_cancelled() => {}
                Err(join) => {
                    set.abort_all();
                    result = Err(QueueError::Backend(format!("worker task failed: {join}")));
                }
            }
        }
        result
    }

    async fn work(&self) -> Result<(), QueueError> {
        let mut stop = self.stop.clone();
        // The previous job's acknowledgement, while it is on the wire: the
        // worker runs the next job meanwhile (pipelining), and waits for it
        // before handing in another, or before it stops.
        let mut outstanding: Option<AckReceipt> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            // The queue first: a pop that is ready at once never polls (and
            // so never registers with) the stop channel, which is checked at
            // the top of every turn anyway.
            let next = tokio::select! {
                biased;
                next = self.queue.pop() => next?,
                _ = stop.changed() => break,
            };
            let Some(task) = next else {
                break;
            };
            if let Some(receipt) = self.process(task).await? {
                if let Some(previous) = outstanding.replace(receipt) {
                    previous.wait().await?;
                }
            }
        }
        if let Some(last) = outstanding {
            last.wait().await?;
        }
        Ok(())
    }

    /// One job, start to end. Only a queue failure is an error here; every
    /// job failure ends in `retry` or `bury`. A success returns the receipt
    /// of its acknowledgement, which may still be on its way.
    pub async fn process(&self, task: Task) -> Result<Option<AckReceipt>, QueueError> {
        match self.execute(&task).await {
            Ok((plugin, handled, records_with_ack)) => {
                let outcome = handled.outcome;
                let mut writes = handled.writes;
                if !writes.is_empty() && !self.queue.applies_kv_writes() {
                    match self.kv.apply(std::mem::take(&mut writes)).await {
                        Ok(warnings) => {
                            for warning in warnings {
                                tracing::warn!(task = %task.id, plugin = plugin.name(), "kv: {warning}");
                            }
                        }
                        Err(error) => {
                            let failure = Failure::transient(
                                format!("applying the job's key-value writes failed: {error}"),
                                None,
                            );
                            return self.fail(task, failure).await.map(|()| None);
                        }
                    }
                }
                let follow_ups = self.follow_ups(&task, outcome.follow_ups);
                let records = if records_with_ack {
                    outcome.records
                } else {
                    Vec::new()
                };
                let completion = Completion {
                    plugin: plugin.name(),
                    records,
                    follow_ups,
                    writes,
                };
                let receipt = self.queue.ack(task, completion).await;
                // An idle host makes the next instance while it waits, so
                // that the next job starts at once; after the hand-in, so
                // that making it never delays the acknowledgement. Under
                // load the next job is already here and makes its own.
                if self.queue.is_idle() {
                    plugin.prepare();
                }
                receipt.map(Some)
            }
            Err(failure) => self.fail(task, failure).await.map(|()| None),
        }
    }

    async fn fail(&self, task: Task, failure: Failure) -> Result<(), QueueError> {
        if failure.defer {
            let delay = failure.delay.unwrap_or(Duration::from_secs(1));
            tracing::debug!(task = %task.id, "put back for {delay:?}: {}", failure.message);
            return self.queue.defer(task, delay).await;
        }
        if failure.transient && task.attempt < self.config.max_attempts {
            let delay = failure
                .delay
                .unwrap_or_else(|| backoff(&self.config, task.attempt));
            tracing::warn!(task = %task.id, url = %task.url, attempt = task.attempt,
                "job failed, retrying in {delay:?}: {}", failure.message);
            self.queue.retry(task, delay, failure.message).await
        } else {
            let message = if failure.transient {
                format!(
                    "{} (gave up after {} attempts)",
                    failure.message, task.attempt
                )
            } else {
                failure.message
            };
            tracing::error!(task = %task.id, url = %task.url, attempt = task.attempt,
                "job dead: {message}");
            self.queue.bury(task, message).await
        }
    }

    /// Fetch, route, run, record. Returns the plugin, its outcome, and
    /// whether the records still have to travel with the ack.
    async fn execute(
        &self,
        task: &Task,
    ) -> Result<(Arc<crate::runtime::Plugin>, crate::runtime::Handled, bool), Failure> {
        let early = self
            .router
            .before_fetch(task)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let content = match &task.payload {
            // The task keeps its payload for a retry or the dead letters, so
            // the plugin gets a copy.
            Some(payload) => Fetched {
                status: 200,
                final_url: task.url.clone(),
                headers: Vec::new(),
                content_type: Some(payload.content_type.clone()),
                body: payload.body.clone(),
            },
            None => self.polite_fetch(task).await?,
        };
        let plugin = match early {
            Some(plugin) => plugin,
            None => self
                .router
                .after_fetch(task, content.content_type.as_deref())
                .map_err(|e| Failure::permanent(e.to_string()))?,
        };
        let handled = plugin
            .handle(task, content)
            .await
            .map_err(|error| match error {
                CallError::Retry { message, delay } => Failure::transient(
                    format!("plugin {} asked for a retry: {message}", plugin.name()),
                    delay,
                ),
                CallError::Fail(message) => {
                    Failure::permanent(format!("plugin {} failed: {message}", plugin.name()))
                }
                CallError::Trap(message) => {
                    Failure::permanent(format!("plugin {} trapped: {message}", plugin.name()))
                }
                CallError::Limit(message) => {
                    Failure::permanent(format!("plugin {} broke a limit: {message}", plugin.name()))
                }
                CallError::Instantiate(message) => Failure::transient(
                    format!("plugin {} could not start: {message}", plugin.name()),
                    None,
                ),
            })?;
        let records_with_ack = self
            .sink
            .write(task, plugin.name(), &handled.outcome.records)
            .map_err(|error| match error {
                SinkError::BadJson { .. } => {
                    Failure::permanent(format!("plugin {}: {error}", plugin.name()))
                }
                // A full disk or closed pipe may clear up.
                SinkError::Io(_) => Failure::transient(error.to_string(), None),
            })?;
        Ok((plugin, handled, records_with_ack))
    }

    /// Fetch within the URL host's limits; a host that asks us to wait
    /// (Retry-After on 429/503) is held back for everyone.
    async fn polite_fetch(&self, task: &Task) -> Result<Fetched, Failure> {
        let host = if self.politeness.active() && !task.url.starts_with("file:") {
            url_host(&task.url)
        } else {
            None
        };
        let Some(host) = host else {
            let fetched = self.fetcher.fetch(&task.url).await;
            if let Err(error) = &fetched {
                if let (Some(hold), Some(host)) = (error.hold_back(), url_host(&task.url)) {
                    self.politeness.hold(&host, hold).await;
                }
            }
            return Ok(fetched?);
        };
        let permit = match self.politeness.acquire(&host).await {
            Ok(permit) => permit,
            Err(wait) => {
                return Err(Failure {
                    message: format!("{host} is held back or at its limit"),
                    transient: true,
                    delay: Some(wait),
                    defer: true,
                })
            }
        };
        let fetched = self.fetcher.fetch(&task.url).await;
        self.politeness.release(&host, permit).await;
        if let Err(error) = &fetched {
            if let Some(hold) = error.hold_back() {
                self.politeness.hold(&host, hold).await;
            }
        }
        Ok(fetched?)
    }

    fn follow_ups(
        &self,
        parent: &Task,
        follow_ups: Vec<crate::runtime::bindings::FollowUp>,
    ) -> Vec<Task> {
        let depth = parent.depth + 1;
        if follow_ups.is_empty() {
            return Vec::new();
        }
        if self.config.max_depth.is_some_and(|max| depth > max) {
            self.stats
                .too_deep
                .fetch_add(follow_ups.len() as u64, Ordering::Relaxed);
            tracing::debug!(task = %parent.id, "dropped {} follow-ups beyond the maximum depth", follow_ups.len());
            return Vec::new();
        }
        let now = now_millis();
        let mut tasks = Vec::with_capacity(follow_ups.len());
        for follow_up in follow_ups {
            if let Err(error) = check_url(&follow_up.url) {
                self.stats.bad_follow_ups.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(task = %parent.id, "plugin returned a bad follow-up, dropped: {error}");
                continue;
            }
            if let Some(name) = follow_up
                .plugin
                .as_deref()
                .filter(|n| !valid_plugin_name(n))
            {
                self.stats.bad_follow_ups.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(task = %parent.id, "plugin returned a follow-up with an invalid plugin name `{name}`, dropped");
                continue;
            }
            let mut task = Task::new(follow_up.url);
            task.plugin = follow_up.plugin;
            task.metadata = follow_up.metadata;
            task.enqueued_at = now;
            task.depth = depth;
            tasks.push(task);
        }
        tasks
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, then
/// scaled by a random factor in [0.5, 1.0) so that jobs that failed together
/// do not all come back together.
pub fn backoff(config: &WorkerConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = config
        .retry_base
        .saturating_mul(1u32 << exponent)
        .min(config.retry_max);
    full.mul_f64(0.5 + fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let config = WorkerConfig {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            ..WorkerConfig::default()
        };
        for _ in 0..100 {
            let first = backoff(&config, 1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
            let third = backoff(&config, 3);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(400));
            let late = backoff(&config, 40);
            assert!(late >= Duration::from_millis(500) && late < Duration::from_secs(1));
        }
    }
}
