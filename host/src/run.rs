//! `jobhost run`: load the plugins, feed the input to the queue, run the
//! workers until the queue drains (or a signal stops them), and report.
//!
//! With the in-memory queue this is a batch; with Redis it is a long-running
//! worker that also stops on SIGINT/SIGTERM: it stops taking jobs, lets
//! running ones finish within `--grace`, and hands the rest back at once.
//!
//! Input is streamed: workers start on the first tasks while later lines are
//! still being read, so a million-line file never sits in memory twice. A bad
//! line is reported with its line number and skipped; every good line is
//! still run. The dead letters can be written as JSON Lines that `--input`
//! reads back, so nothing accepted is lost when the process ends.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::AsyncBufReadExt;

use crate::commit::Commit;
use crate::db::{DbOptions, DbSink};
use crate::fetch::{FetchConfig, Fetcher};
use crate::kv::{AnyKv, MemoryKv, RedisKv};
use crate::politeness::{Politeness, PolitenessConfig, SharedLimits};
use crate::queue::amqp::{AmqpOptions, AmqpQueue};
use crate::queue::memory::MemoryQueueOptions;
use crate::queue::redis::{RedisAdmin, RedisOptions};
use crate::queue::{BeforeAck, MemoryQueue, Queue, QueueStats, RedisQueue};
use crate::redis::Redis;
use crate::registry::Registry;
use crate::reload::Reloader;
use crate::routing::Router;
use crate::runtime::engine::EngineLimits;
use crate::runtime::{CallLimits, Runtime};
use crate::schedule::local::LocalTicker;
use crate::shards::{ShardPool, Shards};
use crate::sink::Sink;
use crate::task::Task;
use crate::worker::{WorkerConfig, WorkerStats, Workers};

/// Where task lines come from besides the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Standard input (`--input -`).
    Stdin,
    /// A file.
    File(PathBuf),
}

/// Which queue backend.
#[derive(Debug, Clone)]
pub enum QueueChoice {
    /// In this process.
    Memory,
    /// Shared through Redis.
    Redis(RedisOptions),
    /// Shared through RabbitMQ.
    Amqp(AmqpOptions),
}

/// Where records go.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// A file (created or truncated).
    File(PathBuf),
    /// A Redis stream, written with the acknowledgement.
    QueueStream(String),
    /// A database, committed before the acknowledgement.
    Database(DbOptions),
}

/// A validated configuration for `jobhost run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Folder of `.wasm` plugins.
    pub plugins_dir: PathBuf,
    /// Task lines given as arguments.
    pub tasks: Vec<String>,
    /// Schedules this run fires (in-memory queue; `schedule/local.rs`).
    pub schedules: Vec<crate::schedule::Schedule>,
    /// More task lines.
    pub input: Option<Input>,
    /// `--plugin`: the fallback route.
    pub default_plugin: Option<String>,
    /// Drop repeated URLs within the run.
    pub dedupe: bool,
    /// Where records go.
    pub output: Output,
    /// Where to write the dead letters as JSON Lines.
    pub dead_letters: Option<PathBuf>,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// Threads that run jobs (shards), at least 1.
    pub threads: usize,
    /// Fetcher settings.
    pub fetch: FetchConfig,
    /// Engine-wide limits.
    pub engine: EngineLimits,
    /// Per-call limits.
    pub call: CallLimits,
    /// The queue.
    pub queue: QueueChoice,
    /// Time running jobs get to finish after SIGINT/SIGTERM.
    pub grace: Duration,
    /// Per URL host limits.
    pub politeness: PolitenessConfig,
    /// Where compiled plugins are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// How often to look for changed plugin files (`None`: never).
    pub reload_interval: Option<Duration>,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Show the live progress line when stderr is a terminal.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Jobs done.
    pub done: u64,
    /// Of those, the ones not modified since their last fetch.
    pub not_modified: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Jobs in the dead letters.
    pub dead: u64,
    /// Input lines rejected.
    pub invalid: u64,
    /// Tasks dropped as repeated URLs.
    pub duplicates: u64,
    /// Follow-ups dropped for depth.
    pub too_deep: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl RunSummary {
    /// Whether everything accepted ended done and every line was valid.
    pub fn all_ok(&self) -> bool {
        self.dead == 0 && self.invalid == 0
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "done {}", self.done)?;
        if self.not_modified > 0 {
            write!(f, " ({} not modified)", self.not_modified)?;
        }
        write!(
            f,
            ", retried {}, dead {}, invalid input {}, duplicates {}, too deep {} in {:.2?}",
            self.retried, self.dead, self.invalid, self.duplicates, self.too_deep, self.elapsed
        )
    }
}

/// Build a runtime and load every plugin in `dir`, logging each file that
/// fails (the rest still load).
pub async fn load_plugins(
    dir: &Path,
    engine: &EngineLimits,
    call: CallLimits,
    kv: Arc<AnyKv>,
    cache_dir: Option<&Path>,
) -> anyhow::Result<(Runtime, Registry)> {
    let runtime = Runtime::new(engine, call, kv, cache_dir)?;
    let (registry, problems) = Registry::load_dir(&runtime, dir).await?;
    for problem in &problems {
        tracing::error!("plugin not loaded: {problem}");
    }
    for plugin in registry.plugins() {
        tracing::info!(
            "loaded plugin {} {} from {} ({})",
            plugin.name(),
            plugin.info().version,
            plugin.path().display(),
            plugin.load_note()
        );
    }
    Ok((runtime, registry))
}

/// Run to the end (drained queue, or a signal).
pub async fn run(config: RunConfig) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    match config.queue.clone() {
        QueueChoice::Memory => {
            let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
            let queue = Arc::new(MemoryQueue::new(MemoryQueueOptions {
                dedupe_urls: config.dedupe,
            }));
            // Nothing outlives this process: the sink is flushed now and
            // then, and at the end.
            let sink = Arc::new(open_sink(&config, false).await?);
            let pool = shard_pool(&config)?;
            // With schedules the run goes on until it is stopped.
            let ticker = (!config.schedules.is_empty()).then(|| {
                let ticker = LocalTicker::new(config.schedules.clone(), queue.clone());
                tokio::spawn(ticker.run())
            });
            let worked = drive(&config, vec![queue.clone()], sink, &pool, kv).await;
            if let Some(ticker) = ticker {
                ticker.abort();
            }
            let mut summary = worked?;
            let dead = queue.dead_letters();
            if let Some(path) = &config.dead_letters {
                write_dead_letters(path, &dead)?;
            }
            summary.duplicates = queue.stats().duplicates;
            summary.elapsed = started.elapsed();
            Ok(summary)
        }
        QueueChoice::Amqp(options) => run_amqp(&config, options, started).await,
        QueueChoice::Redis(options) => {
            if config.dead_letters.is_some() {
                anyhow::bail!(
                    "--dead-letters is for the in-memory queue; with Redis the dead letters stay in Redis: see `jobhost dead list`"
                );
            }
            let kv_redis = Redis::connect(&options.url, Duration::from_secs(30)).await?;
            let kv_keys =
                crate::redis::keys::QueueKeys::on(&options.name, kv_redis.is_cluster()).kv;
            let kv = Arc::new(AnyKv::Redis(RedisKv::new(kv_redis.conn(), kv_keys)));
            // Plugins load before the queue starts taking jobs.
            let (runtime, router) = prepare(&config, kv).await?;
            // The queue outlives this process: records reach the output
            // before each batch of acknowledgements (see commit.rs).
            let sink = Arc::new(open_sink(&config, true).await?);
            // Each shard is a consumer of its own, started on its own
            // thread so that its reader and acknowledger run there too.
            let pool = shard_pool(&config)?;
            let mut queues = Vec::new();
            for (handle, &share) in pool.handles().iter().zip(pool.shares()) {
                // Each reads ahead only for its own workers (two entries
                // each at most, as for the whole host).
                let options = RedisOptions {
                    prefetch: options.prefetch.min(share.saturating_mul(2)),
                    ..options.clone()
                };
                let before_ack: Arc<dyn BeforeAck> = sink.clone();
                let started = handle
                    .spawn(RedisQueue::start(options, Some(before_ack)))
                    .await;
                queues.push(started.context("starting a queue consumer")??);
            }
            let shared = queues.first().map(|queue| queue.admin().clone());
            let mut summary =
                drive_loaded(&config, queues, sink, &pool, runtime, router, shared).await?;
            summary.elapsed = started.elapsed();
            Ok(summary)
        }
    }
}

/// Run on a RabbitMQ queue: one consumer per shard, as with Redis; the
/// plugins' key-value store is this process's own.
async fn run_amqp(
    config: &RunConfig,
    options: AmqpOptions,
    started: Instant,
) -> anyhow::Result<RunSummary> {
    if config.dead_letters.is_some() {
        anyhow::bail!(
            "--dead-letters is for the in-memory queue; with RabbitMQ the dead letters stay in the broker: see `jobhost dead list`"
        );
    }
    let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
    let sink = Arc::new(open_sink(config, true).await?);
    let pool = shard_pool(config)?;
    let mut queues = Vec::new();
    for (handle, &share) in pool.handles().iter().zip(pool.shares()) {
        let options = AmqpOptions {
            prefetch: options.prefetch.min(share.saturating_mul(2)),
            ..options.clone()
        };
        let before_ack: Arc<dyn BeforeAck> = sink.clone();
        let started = handle
            .spawn(AmqpQueue::start(options, Some(before_ack)))
            .await;
        queues.push(started.context("starting a queue consumer")??);
    }
    let mut summary = drive(config, queues, sink, &pool, kv).await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The sink `--output` names; `durable`: the queue outlives this process,
/// so a file keeps the records of earlier runs (appended to).
async fn open_sink(config: &RunConfig, durable: bool) -> anyhow::Result<Sink> {
    Ok(match &config.output {
        Output::File(path) => Sink::file(path, durable)
            .with_context(|| format!("cannot create the output file {}", path.display()))?,
        Output::Stdout => Sink::stdout(),
        Output::QueueStream(name) => Sink::queue_stream(name.clone()),
        Output::Database(options) => Sink::for_database(DbSink::connect(options.clone()).await?),
    })
}

/// Load the plugins and build the router.
async fn prepare(config: &RunConfig, kv: Arc<AnyKv>) -> anyhow::Result<(Runtime, Router)> {
    let (runtime, registry) = load_plugins(
        &config.plugins_dir,
        &config.engine,
        config.call.clone(),
        kv,
        config.cache_dir.as_deref(),
    )
    .await?;
    for name in config.call.reuse.keys() {
        if registry.get(name).is_none() {
            tracing::warn!(
                "--reuse-instances names `{name}`, which is not loaded; it has no effect"
            );
        }
    }
    if registry.is_empty() {
        anyhow::bail!(
            "no plugin loaded from {}: put component files (*.wasm) there, or build the examples with plugins/build.sh",
            config.plugins_dir.display()
        );
    }
    let router = Router::new(
        Arc::new(arc_swap::ArcSwap::from_pointee(registry)),
        config.default_plugin.clone(),
    )
    .context("--plugin")?;
    Ok((runtime, router))
}

/// The threads for `config`'s shards: one per `--threads`, but never more
/// than there are workers.
fn shard_pool(config: &RunConfig) -> anyhow::Result<ShardPool> {
    ShardPool::start(config.worker.concurrency, config.threads)
        .context("cannot start the worker threads")
}

async fn drive<Q: Queue>(
    config: &RunConfig,
    queues: Vec<Arc<Q>>,
    sink: Arc<Sink>,
    pool: &ShardPool,
    kv: Arc<AnyKv>,
) -> anyhow::Result<RunSummary> {
    let (runtime, router) = prepare(config, kv).await?;
    drive_loaded(config, queues, sink, pool, runtime, router, None).await
}

/// Feed, work, and stop on drain or signal. With `redis` (the queue
/// outlives this process), politeness limits are shared through Redis.
/// `queues` holds one queue for every shard, or one that all the shards
/// share; input is fed to the first.
async fn drive_loaded<Q: Queue>(
    config: &RunConfig,
    queues: Vec<Arc<Q>>,
    sink: Arc<Sink>,
    pool: &ShardPool,
    runtime: Runtime,
    router: Router,
    redis: Option<RedisAdmin>,
) -> anyhow::Result<RunSummary> {
    let kv = runtime.kv().clone();
    let reloader = config.reload_interval.map(|interval| {
        tokio::spawn(
            Reloader::new(
                runtime,
                router.registry().clone(),
                &config.plugins_dir,
                interval,
            )
            .run(),
        )
    });
    // A politeness slot outlives a crashed host by at most this long.
    let slot_ttl = config.fetch.timeout + Duration::from_secs(5);
    // Every host of a Redis queue ticks its schedules (schedule/).
    let ticker = redis.clone().map(|admin| {
        let owner = format!("{}:{}", std::process::id(), crate::task::new_id());
        tokio::spawn(crate::schedule::ticker::Ticker::new(admin, owner).run())
    });
    let metrics = config.metrics_addr.map(|_| {
        let metrics = Arc::new(crate::metrics::Metrics::new());
        crate::metrics::install(metrics.clone());
        metrics
    });
    let metrics_server = match (config.metrics_addr, &metrics) {
        (Some(addr), Some(metrics)) => {
            Some(crate::metrics::serve(addr, metrics.clone(), redis.clone()).await?)
        }
        _ => None,
    };
    // The in-memory queue ends when drained: what it accepted is the total.
    let bounded = redis.is_none();
    // Every 30 s, the plugins this host runs, for the dashboard.
    let publisher = redis.clone().map(|admin| {
        let registry = router.registry().clone();
        let host = format!("{}-{}", crate::queue::redis::hostname(), std::process::id());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                let plugins: Vec<serde_json::Value> = registry
                    .load()
                    .plugins()
                    .iter()
                    .filter_map(|plugin| serde_json::to_value(plugin.info()).ok())
                    .collect();
                if let Err(error) = admin.publish_plugins(&host, &plugins).await {
                    tracing::debug!("publishing the plugins for the dashboard: {error}");
                }
            }
        })
    });
    let shared = redis.map(|admin| SharedLimits::new(admin.redis().clone(), admin.name()));
    let politeness = Arc::new(Politeness::new(config.politeness.clone(), shared, slot_ttl));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // One set of workers per shard (thread), each with its own HTTP
    // connection pool; see shards.rs.
    let shard_workers = pool
        .shares()
        .iter()
        .enumerate()
        .map(|(shard, &concurrency)| {
            let queue = queues[shard % queues.len()].clone();
            let commit = Commit::new(queue, sink.clone(), kv.clone(), config.worker.retry)
                .map_err(|message| anyhow::anyhow!("--output: {message}"))?
                .with_metrics(metrics.clone());
            Ok(Arc::new(Workers {
                commit,
                router: router.clone(),
                fetcher: Fetcher::new(config.fetch.clone())?,
                politeness: politeness.clone(),
                config: WorkerConfig {
                    concurrency,
                    ..config.worker.clone()
                },
                stats: WorkerStats::default(),
                stop: stop_rx.clone(),
                metrics: metrics.clone(),
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut running = Shards::start(pool, shard_workers.clone());
    let progress = crate::progress::Progress::start(config.progress, queues.clone(), bounded);
    let flusher = tokio::spawn({
        let sink = sink.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if let Err(error) = sink.flush() {
                    tracing::error!("flushing the output: {error}");
                }
            }
        }
    });

    // Handlers are installed before any input is read, so that a signal
    // during a long (or endless, `--input -`) feed is still graceful.
    let mut signals = Signals::install();
    let mut feeder = tokio::spawn({
        let queues = queues.clone();
        let tasks = config.tasks.clone();
        let input = config.input.clone();
        async move {
            let fed = feed(&tasks, input.as_ref(), queues[0].as_ref()).await;
            for queue in &queues {
                queue.close();
            }
            fed
        }
    });
    let mut interrupted = false;
    let worked = tokio::select! {
        worked = running.join() => worked,
        signal = signals.recv() => {
            interrupted = true;
            tracing::warn!("{signal}: taking no new jobs; running jobs get {:?} to finish", config.grace);
            feeder.abort();
            // No new round starts while this host stops; one it was
            // producing is adopted by another host after its lease.
            if let Some(ticker) = &ticker {
                ticker.abort();
            }
            let _ = stop_tx.send(true);
            for queue in &queues {
                queue.stop_intake();
            }
            match tokio::time::timeout(config.grace, running.join()).await {
                Ok(worked) => worked,
                Err(_) => {
                    running.abort().await;
                    Ok(())
                }
            }
        }
    };
    if interrupted {
        let mut handed = 0;
        for queue in &queues {
            handed += queue.hand_back().await?;
        }
        if handed > 0 {
            tracing::warn!("handed {handed} unfinished jobs back to the queue");
        }
    }
    // Workers that stopped on their own before the input ended (a failed
    // queue) leave the feeder waiting for room that will not come.
    let gave_up = !interrupted && !feeder.is_finished();
    if gave_up {
        feeder.abort();
    }
    let invalid = match (&mut feeder).await {
        Ok(fed) => fed?,
        Err(_) if interrupted || gave_up => 0,
        Err(join) => anyhow::bail!("reading the input failed: {join}"),
    };
    flusher.abort();
    if let Some(publisher) = publisher {
        publisher.abort();
    }
    if let Some(progress) = progress {
        progress.finish();
    }
    if let Some(server) = metrics_server {
        server.abort();
    }
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    sink.flush().context("flushing the output")?;
    worked.context("the workers stopped")?;
    let stats: QueueStats = queues.iter().map(|queue| queue.stats()).sum();
    Ok(RunSummary {
        done: stats.done,
        not_modified: stats.not_modified,
        retried: stats.retried,
        dead: stats.dead,
        invalid,
        duplicates: stats.duplicates,
        too_deep: shard_workers
            .iter()
            .map(|workers| workers.stats.too_deep.load(Ordering::Relaxed))
            .sum(),
        elapsed: Duration::ZERO,
    })
}

/// SIGINT and SIGTERM, caught from the moment of [`Signals::install`].
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Resolves on the first signal, naming it (never, if handlers could
    /// not be installed: the default action then applies).
    async fn recv(&mut self) -> &'static str {
        match (&mut self.term, &mut self.int) {
            (Some(term), Some(int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
}

/// Push the argument tasks and the input lines; returns how many lines were
/// rejected.
async fn feed<Q: Queue>(tasks: &[String], input: Option<&Input>, queue: &Q) -> anyhow::Result<u64> {
    let mut invalid = 0;
    let mut batch = Vec::new();
    for (index, line) in tasks.iter().enumerate() {
        match Task::parse_line(line) {
            Ok(Some(task)) => batch.push(task),
            Ok(None) => {}
            Err(error) => {
                invalid += 1;
                tracing::error!("task argument {}: {error}", index + 1);
            }
        }
    }
    queue.push(std::mem::take(&mut batch)).await?;
    let Some(input) = input else {
        return Ok(invalid);
    };
    let (name, reader): (String, Box<dyn tokio::io::AsyncRead + Unpin + Send>) = match input {
        Input::Stdin => ("standard input".into(), Box::new(tokio::io::stdin())),
        Input::File(path) => (
            path.display().to_string(),
            Box::new(
                tokio::fs::File::open(path)
                    .await
                    .with_context(|| format!("cannot open the input file {}", path.display()))?,
            ),
        ),
    };
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .await
            .with_context(|| format!("reading {name}"))?;
        if read == 0 {
            break;
        }
        number += 1;
        let parsed = match std::str::from_utf8(&line) {
            Ok(text) => Task::parse_line(text),
            Err(error) => {
                invalid += 1;
                tracing::error!("{name} line {number}: not UTF-8 text ({error}); line skipped");
                continue;
            }
        };
        match parsed {
            Ok(Some(task)) => batch.push(task),
            Ok(None) => {}
            Err(error) => {
                invalid += 1;
                tracing::error!("{name} line {number}: {error}; line skipped");
            }
        }
        // Hand tasks over in batches (the queue lock or Redis round trip is
        // paid once per batch), but never sit on a partial batch while the
        // next read may block: a slow stream of lines runs as it arrives.
        if batch.len() >= 256 || (!batch.is_empty() && reader.buffer().is_empty()) {
            queue.wait_for_room().await;
            queue.push(std::mem::take(&mut batch)).await?;
        }
    }
    queue.push(batch).await?;
    Ok(invalid)
}

fn write_dead_letters(path: &Path, dead: &[crate::queue::DeadLetter]) -> anyhow::Result<()> {
    let context = || format!("writing the dead letters to {}", path.display());
    let file = std::fs::File::create(path).with_context(context)?;
    let mut out = std::io::BufWriter::new(file);
    for letter in dead {
        serde_json::to_writer(&mut out, &letter.to_json()).with_context(context)?;
        out.write_all(b"\n").with_context(context)?;
    }
    out.flush().with_context(context)?;
    Ok(())
}
