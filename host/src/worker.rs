//! The worker loop: take a delivery, fetch, route, run the plugin, and hand
//! what came of it to the commit pipeline (`commit.rs`).
//!
//! Each worker is a tokio task; `--concurrency` of them share one queue.
//! Failures are sorted here into permanent, transient and held back (see
//! [`Failure`]); what becomes of them, and the order in which a job's
//! effects are committed, is the commit pipeline's business.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::commit::{Commit, Failure, Produced, RetryPolicy};
use crate::fetch::conditional::{self, Validators};
use crate::fetch::{FetchError, Fetched, Fetcher};
use crate::kv::KvStore;
use crate::metrics::Metrics;
use crate::politeness::{url_host, Politeness};
use crate::queue::{AckReceipt, Delivery, Queue, QueueError};
use crate::record::Record;
use crate::routing::Router;
use crate::runtime::{CallError, Plugin};
use crate::task::{check_url, now_millis, valid_plugin_name, Task};

/// Concurrency, retry and crawl settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Workers taking jobs at once.
    pub concurrency: usize,
    /// How failed jobs are retried.
    pub retry: RetryPolicy,
    /// Follow-ups deeper than this are dropped (input tasks are depth 0).
    pub max_depth: Option<u32>,
    /// Conditional requests (`--conditional`): how long a URL's validators
    /// are kept. `None`: every fetch is whole.
    pub conditional: Option<Duration>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 128,
            retry: RetryPolicy::default(),
            max_depth: None,
            conditional: None,
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
pub struct Workers<Q: Queue> {
    /// Where jobs come from and what becomes of them.
    pub commit: Commit<Q>,
    /// Plugin routing.
    pub router: Router,
    /// The fetcher.
    pub fetcher: Fetcher,
    /// Per URL host limits and hold-backs.
    pub politeness: Arc<Politeness>,
    /// Settings.
    pub config: WorkerConfig,
    /// Counters.
    pub stats: WorkerStats,
    /// Becomes true when the workers must stop taking jobs.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Counts and timings for `--metrics-addr`; `None`: nothing measured.
    pub metrics: Option<Arc<Metrics>>,
}

impl From<FetchError> for Failure {
    fn from(error: FetchError) -> Self {
        if error.is_transient() {
            Failure::Transient {
                delay: error.retry_after(),
                message: error.to_string(),
            }
        } else {
            Failure::Permanent(error.to_string())
        }
    }
}

/// What running a job came to, short of a failure.
enum Executed {
    /// The plugin ran; `validators`: what to keep of its document for the
    /// next conditional fetch.
    Handled {
        plugin: Arc<Plugin>,
        handled: crate::runtime::Handled,
        validators: Option<Validators>,
    },
    /// The document had not changed since the validators were kept: the
    /// plugin it would go to did not run.
    NotModified(Arc<Plugin>),
}

/// A job that failed, with the plugin it was routed to if it got that far.
struct Failed {
    failure: Failure,
    plugin: Option<Arc<Plugin>>,
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Self {
        Failed {
            failure,
            plugin: None,
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
        // The previous jobs' acknowledgements, while they are on the wire
        // (or waiting for the database's commit): the worker runs its next
        // jobs meanwhile (pipelining), and waits for the oldest before it
        // holds more than the commit pipeline allows, or before it stops.
        let ahead = self.commit.receipts_ahead().max(1);
        let mut outstanding: std::collections::VecDeque<AckReceipt> =
            std::collections::VecDeque::with_capacity(ahead);
        loop {
            if *stop.borrow() {
                break;
            }
            // The queue first: a pop that is ready at once never polls (and
            // so never registers with) the stop channel, which is checked at
            // the top of every turn anyway.
            let next = tokio::select! {
                biased;
                next = self.commit.queue().pop() => next?,
                _ = stop.changed() => break,
            };
            let Some(delivery) = next else {
                break;
            };
            if let Some(receipt) = self.process(delivery).await? {
                if outstanding.len() == ahead {
                    if let Some(oldest) = outstanding.pop_front() {
                        oldest.wait().await?;
                    }
                }
                outstanding.push_back(receipt);
            }
        }
        for receipt in outstanding {
            receipt.wait().await?;
        }
        Ok(())
    }

    /// One job, start to end. Only a queue failure is an error here; every
    /// job failure ends in a retry, a deferral or a burial. A success
    /// returns the receipt of its acknowledgement, which may still be on
    /// its way.
    pub async fn process(
        &self,
        delivery: Delivery<Q::Token>,
    ) -> Result<Option<AckReceipt>, QueueError> {
        let timer = self.metrics.as_ref().map(|metrics| {
            metrics.started.inc();
            std::time::Instant::now()
        });
        let (plugin, handled, validators) = match self.execute(delivery.task()).await {
            Ok(Executed::Handled {
                plugin,
                handled,
                validators,
            }) => (plugin, handled, validators),
            Ok(Executed::NotModified(plugin)) => {
                let produced = Produced {
                    not_modified: true,
                    ..Produced::default()
                };
                let receipt = self.commit.done(delivery, plugin.name(), produced).await;
                self.timed(timer, plugin.name());
                return receipt;
            }
            Err(Failed { failure, plugin }) => {
                let plugin = plugin.as_ref().map(|plugin| plugin.name());
                let failed = self.commit.fail(delivery, failure, plugin).await;
                self.timed(timer, plugin.unwrap_or(""));
                return failed.map(|()| None);
            }
        };
        let outcome = handled.outcome;
        let mut writes = handled.writes;
        if let (Some(validators), Some(ttl)) = (validators, self.config.conditional) {
            writes.push(validators.write(&delivery.task().url, ttl));
        }
        let produced = Produced {
            // The binding's records become the host's own (same layout:
            // the vector is reused in place).
            records: outcome
                .records
                .into_iter()
                .map(|record| Record {
                    content_type: record.content_type,
                    data: record.data,
                })
                .collect(),
            writes,
            follow_ups: self.follow_ups(delivery.task(), outcome.follow_ups),
            not_modified: false,
        };
        let receipt = self.commit.done(delivery, plugin.name(), produced).await;
        self.timed(timer, plugin.name());
        // An idle host makes the next instance while it waits, so that the
        // next job starts at once; after the hand-in, so that making it
        // never delays the acknowledgement. Under load the next job is
        // already here and makes its own.
        if self.commit.queue().is_idle() {
            plugin.prepare();
        }
        receipt
    }

    /// The job that started at `timer` was handed over, with `plugin`.
    fn timed(&self, timer: Option<std::time::Instant>, plugin: &str) {
        if let (Some(metrics), Some(started)) = (&self.metrics, timer) {
            metrics
                .job_seconds
                .with_label_values(&[plugin])
                .observe(started.elapsed().as_secs_f64());
        }
    }

    /// Fetch, route, run. Returns the plugin and what it produced, or that
    /// the document had not changed.
    async fn execute(&self, task: &Task) -> Result<Executed, Failed> {
        let early = self
            .router
            .before_fetch(task)
            .map_err(|e| Failure::Permanent(e.to_string()))?;
        let kept = match (&task.payload, self.config.conditional) {
            (None, Some(_)) => self.validators(task).await,
            _ => None,
        };
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
            None => self.polite_fetch(task, kept.as_ref()).await?,
        };
        if content.status == 304 {
            if let Some(kept) = &kept {
                let plugin = match early {
                    Some(plugin) => plugin,
                    None => self
                        .router
                        .after_fetch(task, kept.content_type())
                        .map_err(|e| Failure::Permanent(e.to_string()))?,
                };
                return Ok(Executed::NotModified(plugin));
            }
        }
        // Kept only for the URL itself: a redirect's target may change
        // without the URL's answer changing.
        let validators = match self.config.conditional {
            Some(_) if content.final_url == task.url => Validators::of(&content),
            _ => None,
        };
        let plugin = match early {
            Some(plugin) => plugin,
            None => self
                .router
                .after_fetch(task, content.content_type.as_deref())
                .map_err(|e| Failure::Permanent(e.to_string()))?,
        };
        let called = self.metrics.as_ref().map(|_| std::time::Instant::now());
        let result = plugin.handle(task, content).await;
        if let (Some(metrics), Some(called)) = (&self.metrics, called) {
            metrics
                .plugin_seconds
                .with_label_values(&[plugin.name()])
                .observe(called.elapsed().as_secs_f64());
        }
        match result {
            Ok(handled) => Ok(Executed::Handled {
                plugin,
                handled,
                validators,
            }),
            Err(error) => {
                let name = plugin.name();
                let failure = match error {
                    CallError::Retry { message, delay } => Failure::Transient {
                        message: format!("plugin {name} asked for a retry: {message}"),
                        delay,
                    },
                    CallError::Fail(message) => {
                        Failure::Permanent(format!("plugin {name} failed: {message}"))
                    }
                    CallError::Trap(message) => {
                        if let Some(metrics) = &self.metrics {
                            metrics.limit_hit(name, &message);
                        }
                        Failure::Permanent(format!("plugin {name} trapped: {message}"))
                    }
                    CallError::Limit(message) => {
                        if let Some(metrics) = &self.metrics {
                            metrics
                                .limit_hits
                                .with_label_values(&[name, "output"])
                                .inc();
                        }
                        Failure::Permanent(format!("plugin {name} broke a limit: {message}"))
                    }
                    CallError::Instantiate(message) => {
                        Failure::transient(format!("plugin {name} could not start: {message}"))
                    }
                };
                Err(Failed {
                    failure,
                    plugin: Some(plugin),
                })
            }
        }
    }

    /// Fetch, timed for the metrics.
    async fn timed_fetch(
        &self,
        url: &str,
        kept: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let Some(metrics) = &self.metrics else {
            return self.fetcher.fetch_if(url, kept).await;
        };
        let started = std::time::Instant::now();
        let fetched = self.fetcher.fetch_if(url, kept).await;
        metrics
            .fetch_seconds
            .observe(started.elapsed().as_secs_f64());
        fetched
    }

    /// The validators kept for the task's URL, if any. A store that cannot
    /// answer only costs a whole fetch.
    async fn validators(&self, task: &Task) -> Option<Validators> {
        if task.url.starts_with("file:") {
            return None;
        }
        match self.commit.kv().get(&conditional::key(&task.url)).await {
            Ok(value) => value.as_deref().and_then(Validators::decode),
            Err(error) => {
                tracing::debug!(task = %task.id, "no conditional request: {error}");
                None
            }
        }
    }

    /// Fetch within the URL host's limits; a host that asks us to wait
    /// (Retry-After on 429/503) is held back for everyone.
    async fn polite_fetch(
        &self,
        task: &Task,
        kept: Option<&Validators>,
    ) -> Result<Fetched, Failure> {
        let host = if self.politeness.active() && !task.url.starts_with("file:") {
            url_host(&task.url)
        } else {
            None
        };
        let Some(host) = host else {
            let fetched = self.timed_fetch(&task.url, kept).await;
            if let Err(error) = &fetched {
                if let (Some(hold), Some(host)) = (error.hold_back(), url_host(&task.url)) {
                    self.politeness.hold(&host, hold).await;
                }
            }
            return Ok(fetched?);
        };
        let asked = self.metrics.as_ref().map(|_| std::time::Instant::now());
        let acquired = self.politeness.acquire(&host).await;
        if let (Some(metrics), Some(asked)) = (&self.metrics, asked) {
            metrics
                .politeness_wait
                .with_label_values(&[host.as_str()])
                .inc_by(asked.elapsed().as_secs_f64());
        }
        let permit = match acquired {
            Ok(permit) => permit,
            Err(wait) => {
                return Err(Failure::HeldBack {
                    message: format!("{host} is held back or at its limit"),
                    delay: wait,
                })
            }
        };
        let fetched = self.timed_fetch(&task.url, kept).await;
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
            // Follow-ups count in their parent's round, without holding a
            // unique entry of their own.
            task.round = parent.round.as_ref().map(|round| crate::task::Round {
                id: round.id.clone(),
                unique: false,
            });
            tasks.push(task);
        }
        tasks
    }
}
