//! The arguments of `jobhost run`, grouped as `--help` shows them (work,
//! plugins, queue, Redis, fetching, sandbox, politeness), and their
//! validation into the [`RunConfig`] the rest of the program uses.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_duration, parse_reuse, parse_size};
use super::{PluginSourceArgs, QueueArgs, SecretUrl, UsageError};
use crate::commit::RetryPolicy;
use crate::db::{DbOptions, Dialect, TableRule};
use crate::fetch::credentials::Credentials;
use crate::fetch::policy::UrlPolicy;
use crate::fetch::FetchConfig;
use crate::politeness::{HostLimit, PolitenessConfig};
use crate::queue::amqp::AmqpOptions;
use crate::queue::redis::RedisOptions;
use crate::run::{Input, Output, QueueChoice, RunConfig};
use crate::runtime::engine::EngineLimits;
use crate::runtime::limits::OutputLimits;
use crate::runtime::outbound::OutboundPolicy;
use crate::runtime::CallLimits;
use crate::task::valid_plugin_name;
use crate::worker::WorkerConfig;

/// `jobhost run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Tasks: bare URLs or JSON task objects.
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Read more task lines from FILE, or standard input with `-`.
    #[arg(long, short = 'i', value_name = "FILE|-", env = "JOBHOST_INPUT")]
    pub input: Option<String>,
    /// With the in-memory queue: a schedule this run fires until it is
    /// stopped, written as `jobhost schedule add` takes it (repeatable), e.g.
    /// --schedule 'nightly --cron "0 3 * * *" --urls https://e.com/{1..100}'.
    /// A Redis queue keeps its schedules in Redis: see `jobhost schedule`.
    #[arg(long, value_name = "SPEC")]
    pub schedule: Vec<String>,
    /// What runs and how often it is tried.
    #[command(flatten)]
    pub work: WorkArgs,
    /// Where plugins come from.
    #[command(flatten)]
    pub plugins: PluginSourceArgs,
    /// Hot reload of the plugins folder.
    #[command(flatten)]
    pub reload: ReloadArgs,
    /// The queue (`memory`, the default, or Redis).
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Settings of the Redis queue.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Fetching.
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Plugin sandbox limits and capabilities.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Politeness toward the sites fetched.
    #[command(flatten)]
    pub politeness: PolitenessArgs,
    /// The database sink (`--output postgres://…`, `mysql://…`, `sqlite:PATH`).
    #[command(flatten)]
    pub sink: SinkArgs,
}

/// Records into a database.
#[derive(Debug, Args)]
#[command(next_help_heading = "Database sink (--output postgres://… | mysql://… | sqlite:PATH)")]
pub struct SinkArgs {
    /// Upsert PLUGIN's records into TABLE (its columns named by the
    /// records' fields, on its primary key); without PLUGIN=, every
    /// plugin's. A plugin's first table is its default; a record may name
    /// another allowed one (`application/json; table=NAME`). Repeatable.
    /// Without it, records go to the table jobhost_records, created if
    /// absent. In the environment, entries are separated by spaces.
    #[arg(long, value_name = "[PLUGIN=]TABLE", value_parser = TableRule::parse, env = "JOBHOST_SINK_TABLE", value_delimiter = ' ')]
    pub sink_table: Vec<TableRule>,
    /// A column that orders updates: a row is never overwritten or
    /// deleted by a record with a smaller value in it.
    #[arg(long, value_name = "COLUMN", env = "JOBHOST_SINK_VERSION_COLUMN")]
    pub sink_version_column: Option<String>,
    /// Deletes (`application/json; op=delete`) set this timestamp column
    /// to the current time instead of removing the row; an upsert clears it.
    #[arg(long, value_name = "COLUMN", env = "JOBHOST_SINK_SOFT_DELETE")]
    pub sink_soft_delete: Option<String>,
    /// Most rows in one transaction.
    #[arg(
        long,
        default_value_t = 1000,
        value_name = "N",
        env = "JOBHOST_SINK_BATCH_ROWS"
    )]
    pub sink_batch_rows: usize,
    /// How long a transaction waits for more rows before it commits.
    #[arg(long, default_value = "2ms", value_parser = parse_duration, value_name = "DURATION", env = "JOBHOST_SINK_BATCH_WAIT")]
    pub sink_batch_wait: Duration,
}

/// Jobs: how many at once, retries, output.
#[derive(Debug, Args)]
#[command(next_help_heading = "Jobs")]
pub struct WorkArgs {
    /// Plugin for tasks that nothing else routes (no name, no claim).
    #[arg(long, value_name = "NAME", env = "JOBHOST_PLUGIN")]
    pub plugin: Option<String>,
    /// Jobs running at once.
    #[arg(long, short = 'c', default_value_t = 128, env = "JOBHOST_CONCURRENCY")]
    pub concurrency: usize,
    /// No live progress line on stderr (there is none anyway when stderr
    /// is not a terminal).
    #[arg(long, env = "JOBHOST_NO_PROGRESS")]
    pub no_progress: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g.
    /// 127.0.0.1:9464): this host's job counts and timings, and with Redis
    /// the queue's sizes and latency.
    #[arg(long, value_name = "ADDR", env = "JOBHOST_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Threads that run jobs (default: one per CPU core). Each runs its
    /// share of the --concurrency workers on a runtime of its own, so a job
    /// never changes threads.
    #[arg(long, value_name = "N", env = "JOBHOST_THREADS")]
    pub threads: Option<usize>,
    /// Deliveries of a job before a transient failure makes it dead.
    #[arg(long, default_value_t = 5, env = "JOBHOST_MAX_ATTEMPTS")]
    pub max_attempts: u32,
    /// First retry delay; it doubles each attempt, with jitter.
    #[arg(long, default_value = "1s", value_parser = parse_duration, env = "JOBHOST_RETRY_DELAY")]
    pub retry_delay: Duration,
    /// Longest retry delay.
    #[arg(long, default_value = "5m", value_parser = parse_duration, env = "JOBHOST_RETRY_MAX")]
    pub retry_max: Duration,
    /// Drop follow-up tasks deeper than this (input tasks are depth 0).
    #[arg(long, env = "JOBHOST_MAX_DEPTH")]
    pub max_depth: Option<u32>,
    /// Run each URL at most once: in this run (memory queue), or ever on
    /// this Redis queue (its `seen` set).
    #[arg(long, env = "JOBHOST_DEDUPE")]
    pub dedupe: bool,
    /// Write records (JSON Lines) to FILE instead of standard output, to
    /// a Redis stream with `redis-stream:NAME` (Redis queue only), or into
    /// a database: postgres://USER@HOST/DB, mysql://USER@HOST/DB (MariaDB
    /// too) or sqlite:PATH (see the database sink's flags).
    #[arg(
        long,
        short = 'o',
        value_name = "FILE|redis-stream:NAME|DATABASE-URL",
        env = "JOBHOST_OUTPUT"
    )]
    pub output: Option<String>,
    /// Write the dead letters (JSON Lines, re-runnable with --input) to FILE.
    #[arg(long, value_name = "FILE", env = "JOBHOST_DEAD_LETTERS")]
    pub dead_letters: Option<PathBuf>,
    /// On SIGINT/SIGTERM, let running jobs finish for this long, then hand
    /// the rest back to the queue.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "JOBHOST_GRACE")]
    pub grace: Duration,
}

/// Hot reload of the plugins folder.
#[derive(Debug, Args)]
#[command(next_help_heading = "Plugins")]
pub struct ReloadArgs {
    /// How often to look for added, replaced or removed plugin files.
    #[arg(long, default_value = "250ms", value_parser = parse_duration, env = "JOBHOST_RELOAD_INTERVAL")]
    pub reload_interval: Duration,
    /// Load the plugins once; ignore later changes to the folder.
    #[arg(long, env = "JOBHOST_NO_RELOAD")]
    pub no_reload: bool,
}

/// The Redis queue's own settings (ignored with the in-memory queue).
#[derive(Debug, Args)]
#[command(next_help_heading = "Redis queue")]
pub struct RedisArgs {
    /// Redis: a job is handed to another host after this long without a
    /// heartbeat from its own.
    #[arg(long, default_value = "15s", value_parser = parse_duration, env = "JOBHOST_LEASE")]
    pub lease: Duration,
    /// Redis: deliveries after which a job that never finishes is dead.
    #[arg(long, default_value_t = 5, env = "JOBHOST_MAX_DELIVERIES")]
    pub max_deliveries: u32,
    /// Redis: most finished jobs acknowledged together in one script call
    /// (a group commit: under load, acks that arrive while one batch is on
    /// the wire go in the next). 1 acknowledges each job on its own.
    #[arg(
        long,
        default_value_t = 256,
        value_name = "N",
        env = "JOBHOST_ACK_BATCH"
    )]
    pub ack_batch: usize,
    /// Redis: exit once the queue is empty everywhere, instead of waiting
    /// for more work until SIGINT/SIGTERM.
    #[arg(long, env = "JOBHOST_UNTIL_EMPTY")]
    pub until_empty: bool,
    /// Redis: also consume a plain list of bare URLs or JSON tasks (what
    /// `RPUSH LIST URL` producers write), moving each item atomically into
    /// reliable delivery.
    #[arg(long, value_name = "LIST", env = "JOBHOST_REDIS_LIST")]
    pub redis_list: Option<String>,
}

/// What may be fetched, and how.
#[derive(Debug, Args)]
#[command(next_help_heading = "Fetching")]
pub struct FetchArgs {
    /// Allow `file://` URLs below DIR (denied otherwise).
    #[arg(long, value_name = "DIR", env = "JOBHOST_ALLOW_FILES")]
    pub allow_files: Option<PathBuf>,
    /// Time allowed for one fetch, body included.
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "JOBHOST_FETCH_TIMEOUT")]
    pub fetch_timeout: Duration,
    /// Largest body fetched (e.g. 10MiB, 512KiB, 1000000).
    #[arg(long, default_value = "10MiB", value_parser = parse_size, env = "JOBHOST_MAX_BODY")]
    pub max_body: u64,
    /// Only fetch from these hosts (repeatable; `*.example.com` matches
    /// subdomains).
    #[arg(
        long,
        value_name = "HOST",
        env = "JOBHOST_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    pub allow_host: Vec<String>,
    /// Never fetch from these hosts (repeatable).
    #[arg(
        long,
        value_name = "HOST",
        env = "JOBHOST_DENY_HOSTS",
        value_delimiter = ','
    )]
    pub deny_host: Vec<String>,
    /// Deny loopback, private, unique-local and CGNAT addresses (checked
    /// after DNS resolution and at every redirect).
    #[arg(long, env = "JOBHOST_DENY_PRIVATE")]
    pub deny_private: bool,
    /// Allow cloud metadata and link-local addresses (169.254.0.0/16 and
    /// friends), denied by default.
    #[arg(long, env = "JOBHOST_ALLOW_METADATA")]
    pub allow_metadata: bool,
    /// Redirects followed per fetch.
    #[arg(long, default_value_t = 10, env = "JOBHOST_MAX_REDIRECTS")]
    pub max_redirects: usize,
    /// Trust the certificate authorities in this PEM file for `https://`,
    /// beside the built-in roots (repeatable). Verification is never
    /// turned off.
    #[arg(
        long,
        value_name = "FILE",
        env = "JOBHOST_CA_CERT",
        value_delimiter = ','
    )]
    pub ca_cert: Vec<PathBuf>,
    /// Request headers per URL host, one `HOST HEADER: VALUE` per line
    /// (`api.example.com Authorization: Bearer TOKEN`; `*.example.com`
    /// for subdomains). Sent to that host only, never shown to plugins or
    /// printed. The variable JOBHOST_CREDENTIALS may hold the same lines.
    #[arg(long, value_name = "FILE", env = "JOBHOST_CREDENTIALS_FILE")]
    pub credentials: Option<PathBuf>,
    /// Keep each URL's ETag and Last-Modified (in the key-value store) and
    /// ask with If-None-Match / If-Modified-Since next time: a 304 ends the
    /// job done without running its plugin.
    #[arg(long, env = "JOBHOST_CONDITIONAL")]
    pub conditional: bool,
    /// How long a URL's validators are kept for --conditional.
    #[arg(long, default_value = "30d", value_parser = parse_duration, env = "JOBHOST_CONDITIONAL_TTL")]
    pub conditional_ttl: Duration,
    /// Fetch plain `http://` with jobhost's own HTTP/1.1 client (`true`),
    /// or with reqwest as `https://` is (`false`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", env = "JOBHOST_LEAN_HTTP1")]
    pub lean_http1: bool,
}

/// Limits and capabilities of plugin calls.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sandbox")]
pub struct SandboxArgs {
    /// Deadline of one plugin call, unless the plugin asks for another.
    #[arg(long, default_value = "5s", value_parser = parse_duration, env = "JOBHOST_PLUGIN_TIMEOUT")]
    pub plugin_timeout: Duration,
    /// Largest deadline a plugin may ask for.
    #[arg(long, default_value = "60s", value_parser = parse_duration, env = "JOBHOST_MAX_PLUGIN_TIMEOUT")]
    pub max_plugin_timeout: Duration,
    /// Largest linear memory of one plugin instance.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, env = "JOBHOST_MAX_MEMORY")]
    pub max_memory: u64,
    /// Give each plugin call this much fuel (about one unit per wasm
    /// instruction); off by default, as counting slows every call a little.
    #[arg(long, env = "JOBHOST_FUEL")]
    pub fuel: Option<u64>,
    /// Most bytes of records one job may return.
    #[arg(long, default_value = "8MiB", value_parser = parse_size, env = "JOBHOST_MAX_OUTPUT")]
    pub max_output: u64,
    /// Most follow-up tasks one job may return.
    #[arg(long, default_value_t = 1000, env = "JOBHOST_MAX_FOLLOW_UPS")]
    pub max_follow_ups: usize,
    /// Let PLUGIN make outbound HTTP requests (wasi:http) to these hosts:
    /// PLUGIN=HOST[,HOST...] (repeatable; `*.example.com` matches
    /// subdomains, `host:port` one port). Denied by default. In the
    /// environment, entries are separated by spaces.
    #[arg(long, value_name = "PLUGIN=HOSTS", value_parser = OutboundPolicy::parse_entry, env = "JOBHOST_ALLOW_OUTBOUND", value_delimiter = ' ')]
    pub allow_outbound: Vec<(String, Vec<String>)>,
    /// The fast path for large (JavaScript, Python) components: let one
    /// instance of PLUGIN serve up to N jobs in a row before it is replaced
    /// (PLUGIN=N, repeatable). Jobs then share that instance's memory; an
    /// instance that traps is never reused. Off by default: a fresh
    /// instance per job. In the environment, entries are separated by
    /// spaces.
    #[arg(long, value_name = "PLUGIN=N", value_parser = parse_reuse, env = "JOBHOST_REUSE_INSTANCES", value_delimiter = ' ')]
    pub reuse_instances: Vec<(String, u32)>,
}

/// Per URL host limits.
#[derive(Debug, Args)]
#[command(next_help_heading = "Politeness")]
pub struct PolitenessArgs {
    /// Requests per second to any one URL host (0 = unlimited); shared by
    /// every host through Redis with the Redis queue.
    #[arg(long, default_value_t = 0.0, env = "JOBHOST_HOST_RATE")]
    pub host_rate: f64,
    /// Requests at once to any one URL host (0 = unlimited); shared through
    /// Redis with the Redis queue.
    #[arg(long, default_value_t = 0, env = "JOBHOST_HOST_CONCURRENCY")]
    pub host_concurrency: u32,
    /// Limits for one URL host, overriding the two above:
    /// HOST=RATE/CONCURRENCY, e.g. api.example.com=5/2 (repeatable; in
    /// the environment, separated by spaces).
    #[arg(long, value_name = "HOST=RATE/CONC", value_parser = PolitenessConfig::parse_override, env = "JOBHOST_HOST_LIMIT", value_delimiter = ' ')]
    pub host_limit: Vec<(String, HostLimit)>,
}

impl RunArgs {
    /// Validate into a [`RunConfig`].
    pub fn into_config(self) -> Result<RunConfig, UsageError> {
        let usage = |flag, message: &str| UsageError {
            flag,
            message: message.to_owned(),
        };
        if self.work.threads.is_some_and(|n| !(1..=1024).contains(&n)) {
            return Err(usage("--threads", "must be between 1 and 1024"));
        }
        if self.work.concurrency == 0 {
            return Err(usage("--concurrency", "must be at least 1"));
        }
        if self.fetch.conditional_ttl.is_zero() {
            return Err(usage("--conditional-ttl", "must be more than 0"));
        }
        let credentials = load_credentials(self.fetch.credentials.as_deref())?;
        if self.work.max_attempts == 0 {
            return Err(usage("--max-attempts", "must be at least 1"));
        }
        if self.fetch.max_body == 0 {
            return Err(usage("--max-body", "must be more than 0 bytes"));
        }
        if self.sandbox.max_memory < 1 << 20 {
            return Err(usage("--max-memory", "must be at least 1MiB"));
        }
        if !self.politeness.host_rate.is_finite() || self.politeness.host_rate < 0.0 {
            return Err(usage(
                "--host-rate",
                "must be a number of requests per second, 0 for unlimited",
            ));
        }
        if self.sandbox.plugin_timeout.is_zero() || self.fetch.fetch_timeout.is_zero() {
            return Err(usage(
                "--plugin-timeout/--fetch-timeout",
                "must be more than 0",
            ));
        }
        if let Some(name) = &self.work.plugin {
            if !valid_plugin_name(name) {
                return Err(UsageError {
                    flag: "--plugin",
                    message: format!(
                        "`{name}` is not a plugin name (lower-case letters, digits and `-`)"
                    ),
                });
            }
        }
        let mut schedules = Vec::with_capacity(self.schedule.len());
        for spec in &self.schedule {
            schedules.push(crate::cli::parse_schedule_spec(spec).map_err(|message| {
                UsageError {
                    flag: "--schedule",
                    message,
                }
            })?);
        }
        let queue = match self.queue.queue.as_ref().map(SecretUrl::expose) {
            None | Some("memory") => {
                if self.tasks.is_empty() && self.input.is_none() && schedules.is_empty() {
                    return Err(usage(
                    "TASK",
                    "nothing to run: give task URLs as arguments, or --input FILE (or - for standard input)",
                ));
                }
                if self.redis.redis_list.is_some() {
                    return Err(usage(
                        "--redis-list",
                        "needs a Redis queue (--queue redis://HOST:PORT)",
                    ));
                }
                QueueChoice::Memory
            }
            Some(url) if crate::redis::is_redis_url(url) => {
                if !schedules.is_empty() {
                    return Err(usage(
                        "--schedule",
                        "is for the in-memory queue; a Redis queue keeps its schedules in Redis, where every host sees them: use `jobhost schedule add`",
                    ));
                }
                if self.redis.lease < Duration::from_millis(100) {
                    return Err(usage("--lease", "must be at least 100ms"));
                }
                if self.redis.max_deliveries == 0 {
                    return Err(usage("--max-deliveries", "must be at least 1"));
                }
                if !(1..=4096).contains(&self.redis.ack_batch) {
                    return Err(usage("--ack-batch", "must be between 1 and 4096"));
                }
                QueueChoice::Redis(RedisOptions {
                    url: url.to_owned(),
                    name: self.queue.queue_name.clone(),
                    lease: self.redis.lease,
                    max_deliveries: self.redis.max_deliveries,
                    dedupe: self.work.dedupe,
                    seed_list: self.redis.redis_list.clone(),
                    until_empty: self.redis.until_empty,
                    // Two entries read ahead per worker: with acknowledgements
                    // pipelined, one buffered entry per worker left the workers
                    // waiting for reads (BENCHMARKS.md, Optimisations).
                    prefetch: self.work.concurrency.saturating_mul(2),
                    sink_stream: None,
                    ack_batch: self.redis.ack_batch,
                })
            }
            Some(url) if crate::queue::amqp::is_amqp_url(url) => {
                let redis_only = [
                    ("--schedule", !schedules.is_empty()),
                    ("--redis-list", self.redis.redis_list.is_some()),
                    ("--dedupe", self.work.dedupe),
                ];
                if let Some((flag, _)) = redis_only.iter().find(|(_, given)| *given) {
                    return Err(usage(
                        flag,
                        "needs a Redis queue (RabbitMQ has no schedules, seed lists or set of URLs seen here)",
                    ));
                }
                if self.redis.max_deliveries == 0 {
                    return Err(usage("--max-deliveries", "must be at least 1"));
                }
                QueueChoice::Amqp(AmqpOptions {
                    url: url.to_owned(),
                    name: self.queue.queue_name.clone(),
                    max_deliveries: self.redis.max_deliveries,
                    prefetch: self.work.concurrency.saturating_mul(2),
                    until_empty: self.redis.until_empty,
                })
            }
            Some(other) => {
                return Err(UsageError {
                    flag: "--queue",
                    message: format!(
                        "`{}` is not a queue: use `memory`, amqp://USER:PASSWORD@HOST:PORT/VHOST, redis://HOST:PORT/DB or redis+sentinel://SENTINEL[,SENTINEL...]/MASTER[/DB]",
                        crate::redis::redact(other)
                    ),
                });
            }
        };
        let database = self
            .work
            .output
            .as_deref()
            .and_then(Dialect::sniff)
            .is_some();
        if !database {
            for (given, flag) in [
                (!self.sink.sink_table.is_empty(), "--sink-table"),
                (
                    self.sink.sink_version_column.is_some(),
                    "--sink-version-column",
                ),
                (self.sink.sink_soft_delete.is_some(), "--sink-soft-delete"),
            ] {
                if given {
                    return Err(usage(
                        flag,
                        "is for a database sink: give --output postgres://…, mysql://… or sqlite:PATH",
                    ));
                }
            }
        }
        if !(1..=100_000).contains(&self.sink.sink_batch_rows) {
            return Err(usage("--sink-batch-rows", "must be between 1 and 100000"));
        }
        let (output, queue) = match self.work.output {
            Some(url) if database => (
                Output::Database(DbOptions {
                    tables: self.sink.sink_table,
                    version_column: self.sink.sink_version_column,
                    soft_delete: self.sink.sink_soft_delete,
                    batch_rows: self.sink.sink_batch_rows,
                    batch_wait: self.sink.sink_batch_wait,
                    ..DbOptions::new(url)
                }),
                queue,
            ),
            Some(out) => match out.strip_prefix("redis-stream:") {
                Some(name) => match queue {
                    QueueChoice::Redis(mut options) if !name.is_empty() => {
                        options.sink_stream = Some(name.to_owned());
                        (Output::QueueStream(name.to_owned()), QueueChoice::Redis(options))
                    }
                    _ => {
                        return Err(usage(
                            "--output",
                            "redis-stream:NAME needs a stream name and a Redis queue (--queue redis://...)",
                        ))
                    }
                },
                None => (Output::File(PathBuf::from(out)), queue),
            },
            None => (Output::Stdout, queue),
        };
        let input = self.input.map(|i| {
            if i == "-" {
                Input::Stdin
            } else {
                Input::File(PathBuf::from(i))
            }
        });
        let cache_dir = self.plugins.cache();
        Ok(RunConfig {
            plugins_dir: self.plugins.plugins,
            tasks: self.tasks,
            schedules,
            input,
            default_plugin: self.work.plugin,
            dedupe: self.work.dedupe,
            output,
            dead_letters: self.work.dead_letters,
            queue,
            grace: self.work.grace,
            metrics_addr: self.work.metrics_addr,
            progress: !self.work.no_progress,
            reload_interval: (!self.reload.no_reload)
                .then_some(self.reload.reload_interval.max(Duration::from_millis(10))),
            cache_dir,
            politeness: PolitenessConfig {
                default: HostLimit {
                    rate: self.politeness.host_rate,
                    concurrency: self.politeness.host_concurrency,
                },
                overrides: self.politeness.host_limit.into_iter().collect(),
            },
            threads: self
                .work
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            worker: WorkerConfig {
                concurrency: self.work.concurrency,
                retry: RetryPolicy {
                    max_attempts: self.work.max_attempts,
                    base: self.work.retry_delay,
                    max: self.work.retry_max.max(self.work.retry_delay),
                },
                max_depth: self.work.max_depth,
                conditional: self.fetch.conditional.then_some(self.fetch.conditional_ttl),
            },
            fetch: FetchConfig {
                timeout: self.fetch.fetch_timeout,
                connect_timeout: self.fetch.fetch_timeout.min(Duration::from_secs(10)),
                max_redirects: self.fetch.max_redirects,
                max_body: self.fetch.max_body,
                file_root: self.fetch.allow_files,
                policy: UrlPolicy {
                    allow_hosts: self.fetch.allow_host,
                    deny_hosts: self.fetch.deny_host,
                    deny_private: self.fetch.deny_private,
                    allow_metadata: self.fetch.allow_metadata,
                },
                lean_http1: self.fetch.lean_http1,
                credentials,
                ca_certs: self.fetch.ca_cert,
                ..FetchConfig::default()
            },
            engine: EngineLimits {
                max_instances: self.work.concurrency.clamp(1, 1000) as u32,
                max_memory: self.sandbox.max_memory,
                fuel: self.sandbox.fuel.is_some(),
                warm_instances: if self.sandbox.reuse_instances.is_empty() {
                    0
                } else {
                    self.work.concurrency.clamp(1, 1000) as u32
                },
            },
            call: CallLimits {
                default_timeout: self.sandbox.plugin_timeout,
                max_timeout: self
                    .sandbox
                    .max_plugin_timeout
                    .max(self.sandbox.plugin_timeout),
                default_memory: self.sandbox.max_memory,
                fuel: self.sandbox.fuel,
                outbound: OutboundPolicy {
                    allowed: self.sandbox.allow_outbound.into_iter().fold(
                        std::collections::HashMap::new(),
                        |mut map, (plugin, hosts)| {
                            map.entry(plugin).or_insert_with(Vec::new).extend(hosts);
                            map
                        },
                    ),
                },
                reuse: self.sandbox.reuse_instances.into_iter().collect(),
                output: OutputLimits {
                    max_record_bytes: self.sandbox.max_output as usize,
                    max_follow_ups: self.sandbox.max_follow_ups,
                },
            },
        })
    }
}

/// The credentials of `--credentials FILE` and of the variable
/// `JOBHOST_CREDENTIALS`, added up. Errors name the file and line, never a
/// value.
fn load_credentials(file: Option<&std::path::Path>) -> Result<Credentials, UsageError> {
    let mut credentials = Credentials::default();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|error| UsageError {
            flag: "--credentials",
            message: format!("cannot read {}: {error}", path.display()),
        })?;
        credentials
            .add(&format!("the file {}", path.display()), &text)
            .map_err(|error| UsageError {
                flag: "--credentials",
                message: error.to_string(),
            })?;
    }
    if let Some(text) = std::env::var_os("JOBHOST_CREDENTIALS") {
        let text = text.into_string().map_err(|_| UsageError {
            flag: "JOBHOST_CREDENTIALS",
            message: "is not valid UTF-8".into(),
        })?;
        credentials
            .add("JOBHOST_CREDENTIALS", &text)
            .map_err(|error| UsageError {
                flag: "JOBHOST_CREDENTIALS",
                message: error.to_string(),
            })?;
    }
    Ok(credentials)
}
