//! Prometheus metrics (`--metrics-addr`): what this host did, and the state
//! of its queue, in the Prometheus text format at `GET /metrics`.
//!
//! Names follow the ecosystem's habits (asynq's `asynq_tasks_processed_total`,
//! `asynq_queue_size`): a `jobhost_` prefix, base units (seconds), `_total`
//! counters. The job counters are this host's own; the queue gauges are the
//! queue's, read from Redis when scraped, so any host answers for all. With
//! no `--metrics-addr` nothing is counted: the workers hold `None`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    CounterVec, Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::queue::redis::RedisAdmin;

/// Buckets of the duration histograms, in seconds: from 100 µs (a no-op
/// plugin call) to a minute (the longest plugin deadline by default).
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Every metric of a host.
pub struct Metrics {
    registry: Registry,
    /// Deliveries taken by the workers.
    pub started: IntCounter,
    /// Jobs done, per plugin.
    pub done: IntCounterVec,
    /// Of those, ended on a 304 without running the plugin.
    pub not_modified: IntCounterVec,
    /// Retries scheduled, per plugin (empty when the job was not routed).
    pub retried: IntCounterVec,
    /// Jobs put back without an attempt (their URL host asked to wait).
    pub deferred: IntCounter,
    /// Jobs buried, per plugin.
    pub dead: IntCounterVec,
    /// From delivery to the hand-over of the outcome, per plugin.
    pub job_seconds: HistogramVec,
    /// One fetch, redirects and body included.
    pub fetch_seconds: Histogram,
    /// One plugin call (instantiation included), per plugin.
    pub plugin_seconds: HistogramVec,
    /// Making a fresh plugin instance, per plugin (before its job or ahead
    /// of it).
    pub instantiation_seconds: HistogramVec,
    /// Calls stopped by a limit, per plugin and limit (deadline, fuel,
    /// memory, table, output).
    pub limit_hits: IntCounterVec,
    /// Time spent waiting for a URL host's politeness limits, per host.
    pub politeness_wait: CounterVec,
    queue_size: IntGaugeVec,
    queue_latency: Gauge,
    reclaimed: IntCounter,
    schedule_fires: IntCounterVec,
    schedule_missed: IntCounterVec,
    schedule_overlapped: IntCounterVec,
    scrape_errors: IntCounter,
}

/// Bring a counter up to a total kept elsewhere (Redis). A total below
/// the counter (the queue was emptied by hand) leaves it: counters only
/// grow, and the next process starts from the new total.
fn catch_up(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// A metric definition that cannot fail at run time: the names and labels
/// below are constants.
fn made<T>(metric: prometheus::Result<T>) -> T {
    match metric {
        Ok(metric) => metric,
        Err(error) => unreachable!("a constant metric definition is invalid: {error}"),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set, registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| made(IntCounter::new(name, help));
        let per_plugin =
            |name: &str, help: &str| made(IntCounterVec::new(Opts::new(name, help), &["plugin"]));
        let histogram =
            |name: &str, help: &str| HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
        let metrics = Metrics {
            started: counter("jobhost_jobs_started_total", "Deliveries taken by this host's workers."),
            done: per_plugin("jobhost_jobs_done_total", "Jobs done by this host."),
            not_modified: per_plugin(
                "jobhost_jobs_not_modified_total",
                "Jobs done on a 304 Not Modified without running their plugin (--conditional).",
            ),
            retried: per_plugin(
                "jobhost_jobs_retried_total",
                "Retries scheduled by this host (plugin empty when the job was not routed).",
            ),
            deferred: counter(
                "jobhost_jobs_deferred_total",
                "Jobs put back without counting an attempt: their URL host asked to wait.",
            ),
            dead: per_plugin("jobhost_jobs_dead_total", "Jobs this host moved to the dead letters."),
            job_seconds: made(HistogramVec::new(
                histogram(
                    "jobhost_job_duration_seconds",
                    "From a job's delivery to its outcome's hand-over.",
                ),
                &["plugin"],
            )),
            fetch_seconds: made(Histogram::with_opts(histogram(
                "jobhost_fetch_duration_seconds",
                "One fetch, redirects and body included.",
            ))),
            plugin_seconds: made(HistogramVec::new(
                histogram(
                    "jobhost_plugin_call_duration_seconds",
                    "One plugin call, instantiation included.",
                ),
                &["plugin"],
            )),
            instantiation_seconds: made(HistogramVec::new(
                histogram(
                    "jobhost_plugin_instantiation_seconds",
                    "Making a fresh plugin instance (for its job, or ahead of the next).",
                ),
                &["plugin"],
            )),
            limit_hits: made(IntCounterVec::new(
                Opts::new(
                    "jobhost_plugin_limit_hits_total",
                    "Plugin calls stopped by a limit (deadline, fuel, memory, table, output).",
                ),
                &["plugin", "limit"],
            )),
            politeness_wait: made(CounterVec::new(
                Opts::new(
                    "jobhost_politeness_wait_seconds_total",
                    "Time jobs waited for a URL host's rate and concurrency limits.",
                ),
                &["host"],
            )),
            queue_size: made(IntGaugeVec::new(
                Opts::new(
                    "jobhost_queue_size",
                    "Tasks in the queue by state (ready, in_flight, delayed, dead), read from Redis when scraped.",
                ),
                &["state"],
            )),
            queue_latency: made(Gauge::new(
                "jobhost_queue_latency_seconds",
                "Age of the oldest ready task (since it became ready), read from Redis when scraped.",
            )),
            reclaimed: counter(
                "jobhost_leases_reclaimed_total",
                "Jobs of the queue taken over after their lease lapsed (their host died or hung), read from Redis when scraped.",
            ),
            schedule_fires: made(IntCounterVec::new(
                Opts::new(
                    "jobhost_schedule_fires_total",
                    "Rounds fired by a schedule's ticks, read from Redis when scraped.",
                ),
                &["schedule"],
            )),
            schedule_missed: made(IntCounterVec::new(
                Opts::new(
                    "jobhost_schedule_missed_total",
                    "A schedule's ticks missed while no host ticked, read from Redis when scraped.",
                ),
                &["schedule"],
            )),
            schedule_overlapped: made(IntCounterVec::new(
                Opts::new(
                    "jobhost_schedule_overlapped_total",
                    "A schedule's ticks not fired because its previous round was still running, read from Redis when scraped.",
                ),
                &["schedule"],
            )),
            scrape_errors: counter(
                "jobhost_metrics_queue_errors_total",
                "Scrapes that could not read the queue's state.",
            ),
            registry,
        };
        let all: [Box<dyn prometheus::core::Collector>; 19] = [
            Box::new(metrics.started.clone()),
            Box::new(metrics.done.clone()),
            Box::new(metrics.not_modified.clone()),
            Box::new(metrics.retried.clone()),
            Box::new(metrics.deferred.clone()),
            Box::new(metrics.dead.clone()),
            Box::new(metrics.job_seconds.clone()),
            Box::new(metrics.fetch_seconds.clone()),
            Box::new(metrics.plugin_seconds.clone()),
            Box::new(metrics.instantiation_seconds.clone()),
            Box::new(metrics.limit_hits.clone()),
            Box::new(metrics.politeness_wait.clone()),
            Box::new(metrics.queue_size.clone()),
            Box::new(metrics.queue_latency.clone()),
            Box::new(metrics.reclaimed.clone()),
            Box::new(metrics.schedule_fires.clone()),
            Box::new(metrics.schedule_missed.clone()),
            Box::new(metrics.schedule_overlapped.clone()),
            Box::new(metrics.scrape_errors.clone()),
        ];
        for collector in all {
            made(metrics.registry.register(collector));
        }
        metrics
    }

    /// Read the queue's state into the gauges.
    async fn probe(&self, admin: &RedisAdmin) {
        let stats = admin.stats().await;
        let latency = admin.oldest_ready_age().await;
        match crate::schedule::store::Store::new(admin.clone())
            .all()
            .await
        {
            Ok(schedules) => {
                for (schedule, state) in schedules {
                    let name = [schedule.name.as_str()];
                    catch_up(&self.schedule_fires.with_label_values(&name), state.fires);
                    catch_up(&self.schedule_missed.with_label_values(&name), state.missed);
                    catch_up(
                        &self.schedule_overlapped.with_label_values(&name),
                        state.overlapped,
                    );
                }
            }
            Err(error) => {
                self.scrape_errors.inc();
                tracing::warn!("metrics: reading the schedules failed: {error}");
            }
        }
        match (stats, latency) {
            (Ok(stats), Ok(latency)) => {
                catch_up(&self.reclaimed, stats.reclaimed);
                let set = |state: &str, value: u64| {
                    self.queue_size
                        .with_label_values(&[state])
                        .set(i64::try_from(value).unwrap_or(i64::MAX));
                };
                set("ready", stats.ready);
                set("in_flight", stats.in_flight);
                set("delayed", stats.delayed);
                set("dead", stats.dead);
                self.queue_latency
                    .set(latency.map_or(0.0, |age| age.as_secs_f64()));
            }
            (Err(error), _) | (_, Err(error)) => {
                self.scrape_errors.inc();
                tracing::warn!("metrics: reading the queue's state failed: {error}");
            }
        }
    }

    /// Count a plugin call that a limit stopped, read from its message (the
    /// runtime's messages start with the limit's name).
    pub fn limit_hit(&self, plugin: &str, message: &str) {
        let limit = [
            ("deadline exceeded", "deadline"),
            ("fuel exhausted", "fuel"),
            ("memory limit exceeded", "memory"),
            ("table limit exceeded", "table"),
        ]
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|(_, limit)| *limit);
        if let Some(limit) = limit {
            self.limit_hits.with_label_values(&[plugin, limit]).inc();
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("metrics: encoding failed: {error}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The metrics of this process, for the code that has no handle on them
/// (the runtime's instantiations); set once by `run` with --metrics-addr.
static INSTALLED: std::sync::OnceLock<Arc<Metrics>> = std::sync::OnceLock::new();

/// Make `metrics` the process's own for [`instantiating`].
pub fn install(metrics: Arc<Metrics>) {
    let _ = INSTALLED.set(metrics);
}

/// A timer for a plugin instantiation, `None` (free) when nothing is
/// measured; hand it back to [`instantiated`].
pub fn instantiating() -> Option<std::time::Instant> {
    INSTALLED.get().map(|_| std::time::Instant::now())
}

/// `plugin` finished making an instance started at `timer`.
pub fn instantiated(plugin: &str, timer: Option<std::time::Instant>) {
    if let (Some(metrics), Some(started)) = (INSTALLED.get(), timer) {
        metrics
            .instantiation_seconds
            .with_label_values(&[plugin])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Serve `GET /metrics` on `addr` until the returned task is aborted.
/// `admin`: the Redis queue whose gauges a scrape reads. Fails if the
/// address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    admin: Option<RedisAdmin>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-addr: cannot listen on {addr}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!("metrics at http://{bound}/metrics");
    let state = Arc::new((metrics, admin));
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |axum::extract::State(state): axum::extract::State<
                    Arc<(Arc<Metrics>, Option<RedisAdmin>)>,
                >| async move {
                    let (metrics, admin) = &*state;
                    if let Some(admin) = admin {
                        // A scrape never hangs on an unreachable Redis.
                        let _ = tokio::time::timeout(Duration::from_secs(5), metrics.probe(admin))
                            .await;
                    }
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                },
            ),
        )
        .with_state(state);
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!("metrics server stopped: {error}");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_with_their_labels() {
        let metrics = Metrics::new();
        metrics.started.inc();
        metrics.done.with_label_values(&["music-sync"]).inc();
        metrics
            .job_seconds
            .with_label_values(&["music-sync"])
            .observe(0.003);
        let text = metrics.render();
        assert!(text.contains("jobhost_jobs_started_total 1"), "{text}");
        assert!(
            text.contains("jobhost_jobs_done_total{plugin=\"music-sync\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "jobhost_job_duration_seconds_bucket{plugin=\"music-sync\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE jobhost_fetch_duration_seconds histogram"),
            "{text}"
        );
    }

    #[test]
    fn limit_hits_are_told_apart_by_the_runtime_messages() {
        let metrics = Metrics::new();
        for message in [
            "deadline exceeded: the call ran longer than 5s",
            "fuel exhausted: the call used more than 10 units (--fuel)",
            "memory limit exceeded: the plugin asked for 80 MiB, the limit is 64 MiB",
            "memory limit exceeded: again",
            "wasm trap: wasm `unreachable` instruction executed",
        ] {
            metrics.limit_hit("p", message);
        }
        let count = |limit: &str| metrics.limit_hits.with_label_values(&["p", limit]).get();
        assert_eq!(
            (
                count("deadline"),
                count("fuel"),
                count("memory"),
                count("table")
            ),
            (1, 1, 2, 0)
        );
    }
}
