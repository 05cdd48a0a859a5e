//! The command line: clap definitions, and their validation into the typed
//! configurations the rest of the program uses (it never sees raw flags).
//!
//! Every flag of `run` can also come from a `JOBHOST_*` environment
//! variable, so flags, environment and service files agree.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::fetch::policy::UrlPolicy;
use crate::fetch::FetchConfig;
use crate::politeness::{HostLimit, PolitenessConfig};
use crate::queue::redis::RedisOptions;
use crate::run::{Input, Output, QueueChoice, RunConfig};
use crate::runtime::cache::CompileCache;
use crate::runtime::engine::EngineLimits;
use crate::runtime::limits::OutputLimits;
use crate::runtime::outbound::OutboundPolicy;
use crate::runtime::CallLimits;
use crate::task::valid_plugin_name;
use crate::worker::WorkerConfig;

/// jobhost: pull tasks from a queue, fetch what they point to, and hand the
/// content to sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "jobhost", version, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output on stderr (-q: warnings and errors, -qq: errors).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run tasks through the plugins until the queue drains, then print a
    /// summary. Exits 1 if any job ended dead or any input line was invalid.
    Run(Box<RunArgs>),
    /// List the plugins in the plugins folder, or check one file.
    Plugins(PluginsArgs),
    /// Add tasks to a Redis queue (bare URLs or JSON tasks), 1,000 per round trip.
    Enqueue(EnqueueArgs),
    /// Inspect, retry or purge the dead letters of a Redis queue.
    Dead(DeadArgs),
    /// Counts of a Redis queue: ready, in flight, delayed, dead, done.
    Stats(StatsArgs),
    /// Create a plugin project (WIT, sample handler, build and test
    /// scripts) that builds and passes its test as generated.
    New(NewArgs),
}

/// `jobhost new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Plugin name (lower-case letters, digits and `-`); also the folder.
    pub name: String,
    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: crate::scaffold::Lang,
    /// Where to create the project folder.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// Which Redis queue.
#[derive(Debug, Args, Clone)]
pub struct QueueArgs {
    /// The Redis queue: redis://HOST:PORT/DB (required).
    #[arg(long, value_name = "URL", env = "JOBHOST_QUEUE", global = true)]
    pub queue: Option<String>,
    /// Queue name (keys jobhost:{NAME}:...).
    #[arg(
        long,
        default_value = "jobs",
        env = "JOBHOST_QUEUE_NAME",
        global = true
    )]
    pub queue_name: String,
}

impl QueueArgs {
    /// The Redis URL, which these commands need.
    pub fn url(&self) -> Result<&str, UsageError> {
        match self.queue.as_deref() {
            Some(url) if url.starts_with("redis://") => Ok(url),
            Some(other) => Err(UsageError {
                flag: "--queue",
                message: format!("`{other}` is not a Redis URL: write redis://HOST:PORT/DB"),
            }),
            None => Err(UsageError {
                flag: "--queue",
                message: "this command works on a Redis queue: give --queue redis://HOST:PORT/DB (or set JOBHOST_QUEUE)".into(),
            }),
        }
    }
}

/// `jobhost enqueue`.
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Tasks: bare URLs or JSON task objects.
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Read more task lines from FILE, or standard input with `-`.
    #[arg(long, short = 'i', value_name = "FILE|-")]
    pub input: Option<String>,
    /// Queue to add to.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Plugin for tasks that do not name one.
    #[arg(long, value_name = "NAME")]
    pub plugin: Option<String>,
    /// Run no earlier than this long from now (e.g. 30s, 5m).
    #[arg(long, value_parser = parse_duration, conflicts_with = "at")]
    pub delay: Option<Duration>,
    /// Run no earlier than TIME: Unix seconds or UTC `YYYY-MM-DDTHH:MM:SSZ`.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<u64>,
    /// Skip URLs this queue has seen before.
    #[arg(long)]
    pub dedupe: bool,
}

/// `jobhost dead`.
#[derive(Debug, Args)]
pub struct DeadArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: DeadAction,
    /// Queue whose dead letters to use.
    #[command(flatten)]
    pub queue: QueueArgs,
}

/// `jobhost dead ...`.
#[derive(Debug, Subcommand)]
pub enum DeadAction {
    /// Print the dead letters as JSON Lines (task, error, attempts, died_at).
    List,
    /// Put dead letters back on the queue with their attempts reset.
    Retry {
        /// Task ids to retry.
        ids: Vec<String>,
        /// Retry all of them.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Delete every dead letter.
    Purge,
}

/// `jobhost stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Queue to count.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `jobhost run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Tasks: bare URLs or JSON task objects.
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Read more task lines from FILE, or standard input with `-`.
    #[arg(long, short = 'i', value_name = "FILE|-", env = "JOBHOST_INPUT")]
    pub input: Option<String>,
    /// Folder of plugin `.wasm` files.
    #[arg(
        long,
        short = 'p',
        value_name = "DIR",
        default_value = "plugins",
        env = "JOBHOST_PLUGINS"
    )]
    pub plugins: PathBuf,
    /// Plugin for tasks that nothing else routes (no name, no claim).
    #[arg(long, value_name = "NAME", env = "JOBHOST_PLUGIN")]
    pub plugin: Option<String>,
    /// Jobs running at once.
    #[arg(long, short = 'c', default_value_t = 64, env = "JOBHOST_CONCURRENCY")]
    pub concurrency: usize,
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
    /// Write records (JSON Lines) to FILE instead of standard output, or
    /// to a Redis stream with `redis-stream:NAME` (Redis queue only).
    #[arg(
        long,
        short = 'o',
        value_name = "FILE|redis-stream:NAME",
        env = "JOBHOST_OUTPUT"
    )]
    pub output: Option<String>,
    /// Write the dead letters (JSON Lines, re-runnable with --input) to FILE.
    #[arg(long, value_name = "FILE", env = "JOBHOST_DEAD_LETTERS")]
    pub dead_letters: Option<PathBuf>,
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
    /// Deadline of one plugin call, unless the plugin asks for another.
    #[arg(long, default_value = "5s", value_parser = parse_duration, env = "JOBHOST_PLUGIN_TIMEOUT")]
    pub plugin_timeout: Duration,
    /// Largest deadline a plugin may ask for.
    #[arg(long, default_value = "60s", value_parser = parse_duration, env = "JOBHOST_MAX_PLUGIN_TIMEOUT")]
    pub max_plugin_timeout: Duration,
    /// Largest linear memory of one plugin instance.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, env = "JOBHOST_MAX_MEMORY")]
    pub max_memory: u64,
    /// Keep compiled plugins here between runs (default
    /// $XDG_CACHE_HOME/jobhost or ~/.cache/jobhost).
    #[arg(long, value_name = "DIR", env = "JOBHOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin at start-up; keep nothing on disk.
    #[arg(long, env = "JOBHOST_NO_CACHE")]
    pub no_cache: bool,
    /// How often to look for added, replaced or removed plugin files.
    #[arg(long, default_value = "250ms", value_parser = parse_duration, env = "JOBHOST_RELOAD_INTERVAL")]
    pub reload_interval: Duration,
    /// Load the plugins once; ignore later changes to the folder.
    #[arg(long, env = "JOBHOST_NO_RELOAD")]
    pub no_reload: bool,
    /// Let PLUGIN make outbound HTTP requests (wasi:http) to these hosts:
    /// PLUGIN=HOST[,HOST...] (repeatable; `*.example.com` matches
    /// subdomains, `host:port` one port). Denied by default.
    #[arg(long, value_name = "PLUGIN=HOSTS", value_parser = OutboundPolicy::parse_entry)]
    pub allow_outbound: Vec<(String, Vec<String>)>,
    /// The fast path for large (JavaScript, Python) components: let one
    /// instance of PLUGIN serve up to N jobs in a row before it is replaced
    /// (PLUGIN=N, repeatable). Jobs then share that instance's memory; an
    /// instance that traps is never reused. Off by default: a fresh
    /// instance per job.
    #[arg(long, value_name = "PLUGIN=N", value_parser = parse_reuse)]
    pub reuse_instances: Vec<(String, u32)>,
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
    /// The queue: `memory` (this process only) or redis://HOST:PORT/DB.
    #[arg(
        long,
        value_name = "memory|URL",
        default_value = "memory",
        env = "JOBHOST_QUEUE"
    )]
    pub queue: String,
    /// Name of the Redis queue (keys jobhost:{NAME}:...).
    #[arg(long, default_value = "jobs", env = "JOBHOST_QUEUE_NAME")]
    pub queue_name: String,
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
    /// Requests per second to any one URL host (0 = unlimited); shared by
    /// every host through Redis with the Redis queue.
    #[arg(long, default_value_t = 0.0, env = "JOBHOST_HOST_RATE")]
    pub host_rate: f64,
    /// Requests at once to any one URL host (0 = unlimited); shared through
    /// Redis with the Redis queue.
    #[arg(long, default_value_t = 0, env = "JOBHOST_HOST_CONCURRENCY")]
    pub host_concurrency: u32,
    /// Limits for one URL host, overriding the two above:
    /// HOST=RATE/CONCURRENCY, e.g. api.example.com=5/2 (repeatable).
    #[arg(long, value_name = "HOST=RATE/CONC", value_parser = PolitenessConfig::parse_override)]
    pub host_limit: Vec<(String, HostLimit)>,
    /// On SIGINT/SIGTERM, let running jobs finish for this long, then hand
    /// the rest back to the queue.
    #[arg(long, default_value = "10s", value_parser = parse_duration, env = "JOBHOST_GRACE")]
    pub grace: Duration,
}

/// `jobhost plugins`.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Check one file instead of listing the folder.
    #[command(subcommand)]
    pub action: Option<PluginsAction>,
    /// Folder of plugin `.wasm` files.
    #[arg(
        long,
        short = 'p',
        value_name = "DIR",
        default_value = "plugins",
        env = "JOBHOST_PLUGINS",
        global = true
    )]
    pub plugins: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Compiled-plugin cache (default $XDG_CACHE_HOME/jobhost or ~/.cache/jobhost).
    #[arg(long, value_name = "DIR", env = "JOBHOST_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Do not use the compiled-plugin cache.
    #[arg(long, env = "JOBHOST_NO_CACHE", global = true)]
    pub no_cache: bool,
}

impl PluginsArgs {
    /// The cache directory in force.
    pub fn cache(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(CompileCache::default_dir)
        }
    }
}

/// `jobhost plugins check`.
#[derive(Debug, Subcommand)]
pub enum PluginsAction {
    /// Load one file, check it against the world and print its describe().
    Check {
        /// The `.wasm` file.
        file: PathBuf,
    },
}

/// A flag value that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct UsageError {
    /// The flag.
    pub flag: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl RunArgs {
    /// Validate into a [`RunConfig`].
    pub fn into_config(self) -> Result<RunConfig, UsageError> {
        let usage = |flag, message: &str| UsageError {
            flag,
            message: message.to_owned(),
        };
        if self.threads.is_some_and(|n| !(1..=1024).contains(&n)) {
            return Err(usage("--threads", "must be between 1 and 1024"));
        }
        if self.concurrency == 0 {
            return Err(usage("--concurrency", "must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(usage("--max-attempts", "must be at least 1"));
        }
        if self.max_body == 0 {
            return Err(usage("--max-body", "must be more than 0 bytes"));
        }
        if self.max_memory < 1 << 20 {
            return Err(usage("--max-memory", "must be at least 1MiB"));
        }
        if !self.host_rate.is_finite() || self.host_rate < 0.0 {
            return Err(usage(
                "--host-rate",
                "must be a number of requests per second, 0 for unlimited",
            ));
        }
        if self.plugin_timeout.is_zero() || self.fetch_timeout.is_zero() {
            return Err(usage(
                "--plugin-timeout/--fetch-timeout",
                "must be more than 0",
            ));
        }
        if let Some(name) = &self.plugin {
            if !valid_plugin_name(name) {
                return Err(UsageError {
                    flag: "--plugin",
                    message: format!(
                        "`{name}` is not a plugin name (lower-case letters, digits and `-`)"
                    ),
                });
            }
        }
        let queue = if self.queue == "memory" {
            if self.tasks.is_empty() && self.input.is_none() {
                return Err(usage(
                    "TASK",
                    "nothing to run: give task URLs as arguments, or --input FILE (or - for standard input)",
                ));
            }
            if self.redis_list.is_some() {
                return Err(usage(
                    "--redis-list",
                    "needs a Redis queue (--queue redis://HOST:PORT)",
                ));
            }
            QueueChoice::Memory
        } else if self.queue.starts_with("redis://") {
            if self.lease < Duration::from_millis(100) {
                return Err(usage("--lease", "must be at least 100ms"));
            }
            if self.max_deliveries == 0 {
                return Err(usage("--max-deliveries", "must be at least 1"));
            }
            if !(1..=4096).contains(&self.ack_batch) {
                return Err(usage("--ack-batch", "must be between 1 and 4096"));
            }
            QueueChoice::Redis(RedisOptions {
                url: self.queue.clone(),
                name: self.queue_name.clone(),
                lease: self.lease,
                max_deliveries: self.max_deliveries,
                dedupe: self.dedupe,
                seed_list: self.redis_list.clone(),
                until_empty: self.until_empty,
                // Two entries read ahead per worker: with acknowledgements
                // pipelined, one buffered entry per worker left the workers
                // waiting for reads (no-op jobs via Redis, one host: about
                // 59k against 68k jobs/s; see BENCHMARKS.md).
                prefetch: self.concurrency.saturating_mul(2),
                sink_stream: None,
                ack_batch: self.ack_batch,
            })
        } else {
            return Err(UsageError {
                flag: "--queue",
                message: format!(
                    "`{}` is not a queue: use `memory` or redis://HOST:PORT/DB",
                    self.queue
                ),
            });
        };
        let (output, queue) = match self.output {
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
        Ok(RunConfig {
            plugins_dir: self.plugins,
            tasks: self.tasks,
            input,
            default_plugin: self.plugin,
            dedupe: self.dedupe,
            output,
            dead_letters: self.dead_letters,
            queue,
            grace: self.grace,
            reload_interval: (!self.no_reload)
                .then_some(self.reload_interval.max(Duration::from_millis(10))),
            cache_dir: if self.no_cache {
                None
            } else {
                self.cache_dir.or_else(CompileCache::default_dir)
            },
            politeness: PolitenessConfig {
                default: HostLimit {
                    rate: self.host_rate,
                    concurrency: self.host_concurrency,
                },
                overrides: self.host_limit.into_iter().collect(),
            },
            threads: self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            worker: WorkerConfig {
                concurrency: self.concurrency,
                max_attempts: self.max_attempts,
                retry_base: self.retry_delay,
                retry_max: self.retry_max.max(self.retry_delay),
                max_depth: self.max_depth,
            },
            fetch: FetchConfig {
                timeout: self.fetch_timeout,
                connect_timeout: self.fetch_timeout.min(Duration::from_secs(10)),
                max_redirects: self.max_redirects,
                max_body: self.max_body,
                file_root: self.allow_files,
                policy: UrlPolicy {
                    allow_hosts: self.allow_host,
                    deny_hosts: self.deny_host,
                    deny_private: self.deny_private,
                    allow_metadata: self.allow_metadata,
                },
                ..FetchConfig::default()
            },
            engine: EngineLimits {
                max_instances: self.concurrency.clamp(1, 1000) as u32,
                max_memory: self.max_memory,
                fuel: self.fuel.is_some(),
                warm_instances: if self.reuse_instances.is_empty() {
                    0
                } else {
                    self.concurrency.clamp(1, 1000) as u32
                },
            },
            call: CallLimits {
                default_timeout: self.plugin_timeout,
                max_timeout: self.max_plugin_timeout.max(self.plugin_timeout),
                default_memory: self.max_memory,
                fuel: self.fuel,
                outbound: OutboundPolicy {
                    allowed: self.allow_outbound.into_iter().fold(
                        std::collections::HashMap::new(),
                        |mut map, (plugin, hosts)| {
                            map.entry(plugin).or_insert_with(Vec::new).extend(hosts);
                            map
                        },
                    ),
                },
                reuse: self.reuse_instances.into_iter().collect(),
                output: OutputLimits {
                    max_record_bytes: self.max_output as usize,
                    max_follow_ups: self.max_follow_ups,
                },
            },
        })
    }
}

/// `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 250ms, 30s, 5m or 1h"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `PLUGIN=N` for `--reuse-instances`.
pub fn parse_reuse(text: &str) -> Result<(String, u32), String> {
    let bad = || format!("`{text}` is not PLUGIN=N (e.g. music-sync-js=100)");
    let (plugin, n) = text.split_once('=').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if plugin.is_empty() || n < 2 {
        return Err(format!(
            "{}: N must be at least 2 (1 is a fresh instance per job)",
            bad()
        ));
    }
    Ok((plugin.to_owned(), n))
}

/// Unix seconds, or a UTC time `YYYY-MM-DDTHH:MM:SSZ`; returns ms since
/// the epoch.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds * 1000);
    }
    let bad = || format!("`{text}` is not a time; write Unix seconds or 2030-01-31T12:00:00Z");
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = body.split_once('T').ok_or_else(bad)?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day)), None) =
        (d.next(), d.next(), d.next(), d.next())
    else {
        return Err(bad());
    };
    let (Some(Ok(hour)), Some(Ok(minute)), Some(Ok(second)), None) =
        (t.next(), t.next(), t.next(), t.next())
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds * 1000).map_err(|_| bad())
}

/// `10MiB`, `512KiB`, `1GiB`, `64M`, `1000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 10MiB, 512KiB or 1000"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use KiB, MiB or GiB"
            ))
        }
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("fast")
            .unwrap_err()
            .contains("not a duration"));
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("3 bananas").is_err());
        assert_eq!(
            parse_time("2001-09-09T01:46:40Z").unwrap(),
            1_000_000_000_000
        );
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert!(parse_time("tomorrow").is_err());
    }

    #[test]
    fn nothing_to_run_is_a_usage_error() {
        let cli = Cli::try_parse_from(["jobhost", "run"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("parsed as another command")
        };
        let err = (*args).into_config().unwrap_err().to_string();
        assert!(err.contains("nothing to run"), "{err}");
    }
}
