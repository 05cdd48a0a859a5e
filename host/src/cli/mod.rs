//! The command line: clap definitions, and their validation into the typed
//! configurations the rest of the program uses (it never sees raw flags).
//!
//! Every flag of `run` can also come from a `JOBHOST_*` environment
//! variable, so flags, environment and service files agree. `run`'s
//! arguments are in `run.rs`, grouped; the flag value parsers in
//! `parse.rs`; the groups shared by several commands (the plugins folder and
//! cache, the queue) here.

pub mod config;
mod parse;
mod run;
mod schedule;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use self::parse::{parse_duration, parse_reuse, parse_size, parse_time};
pub use self::run::{
    FetchArgs, PolitenessArgs, RedisArgs, ReloadArgs, RunArgs, SandboxArgs, WorkArgs,
};
pub use self::schedule::{parse_schedule_spec, ScheduleAction, ScheduleAddArgs, ScheduleArgs};
use crate::runtime::cache::CompileCache;

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
    /// How log lines look: `text` for people, `json` for one JSON object
    /// per line (its fields at the top level: timestamp, level, message,
    /// and the line's own, such as task and plugin).
    #[arg(
        long,
        value_enum,
        default_value = "text",
        global = true,
        env = "JOBHOST_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Read settings from this TOML file (default: ./jobhost.toml if there
    /// is one); the environment and flags override it. `jobhost config`
    /// shows the result.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The form of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
    /// Schedules that fire rounds of tasks onto a Redis queue, once per
    /// tick across every host (add, list, remove, pause, resume, trigger).
    Schedule(ScheduleArgs),
    /// A web page over a Redis queue and its hosts: counts, rates, hosts,
    /// plugins, schedules, and dead letters to retry or delete.
    Dashboard(DashboardArgs),
    /// Print the settings `run` would use with these flags, the environment
    /// and the config file, each with where it came from (passwords
    /// redacted).
    Config(Box<RunArgs>),
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

/// A URL that may carry a password: parsed as given, printed (`Debug`,
/// `Display`) with the password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The URL itself, password included: for connecting, never for
    /// messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretUrl {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(SecretUrl(text.to_owned()))
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::redis::redact(&self.0))
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::redis::redact(&self.0))
    }
}

/// Which queue (shared by `run`, `enqueue`, `dead`, `stats`).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Queue")]
pub struct QueueArgs {
    /// The queue: redis://HOST:PORT/DB (redis://USER:PASSWORD@HOST:PORT/DB
    /// with an ACL user; rediss://… over TLS;
    /// redis+sentinel://SENTINEL[,SENTINEL…]/MASTER[/DB] behind Sentinel);
    /// `run` also takes `memory` (this process only), its default.
    #[arg(long, value_name = "memory|URL", env = "JOBHOST_QUEUE", global = true)]
    pub queue: Option<SecretUrl>,
    /// Name of the Redis queue (keys jobhost:{NAME}:...).
    #[arg(
        long,
        default_value = "jobs",
        env = "JOBHOST_QUEUE_NAME",
        global = true
    )]
    pub queue_name: String,
    /// For rediss:// URLs: trust only the certificate authorities of this
    /// PEM file (default: the system's). Verification is never turned off.
    #[arg(
        long,
        value_name = "FILE",
        env = "JOBHOST_REDIS_CA_CERT",
        global = true
    )]
    pub redis_ca_cert: Option<std::path::PathBuf>,
    /// For amqps:// URLs: also trust the certificate authorities of this
    /// PEM file (beside the system's). Verification is never turned off.
    #[arg(long, value_name = "FILE", env = "JOBHOST_AMQP_CA_CERT", global = true)]
    pub amqp_ca_cert: Option<std::path::PathBuf>,
    /// Redis with replicas: tell a producer its tasks are accepted only
    /// once N replicas have them too (`WAIT`), so that a failover cannot
    /// lose them (docs/redis.md, Sentinel). 0: the master's word suffices.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        env = "JOBHOST_REDIS_WAIT_REPLICAS",
        global = true
    )]
    pub redis_wait_replicas: u32,
    /// How long `--redis-wait-replicas` waits for the replicas before it
    /// warns and goes on.
    #[arg(
        long,
        default_value = "1s",
        value_parser = parse_duration,
        env = "JOBHOST_REDIS_WAIT_TIMEOUT",
        global = true
    )]
    pub redis_wait_timeout: Duration,
}

impl QueueArgs {
    /// The URL of a Redis or RabbitMQ queue (`enqueue`, `dead`, `stats`).
    pub fn any_url(&self) -> Result<&str, UsageError> {
        match self.queue.as_ref().map(SecretUrl::expose) {
            Some(url) if crate::queue::amqp::is_amqp_url(url) => Ok(url),
            _ => self.url().map_err(|mut error| {
                error
                    .message
                    .push_str(" (or amqp://USER:PASSWORD@HOST:PORT/VHOST for RabbitMQ)");
                error
            }),
        }
    }

    /// The Redis URL, which these commands need.
    pub fn url(&self) -> Result<&str, UsageError> {
        match self.queue.as_ref().map(SecretUrl::expose) {
            Some(url) if crate::redis::is_redis_url(url) => Ok(url),
            Some(other) => Err(UsageError {
                flag: "--queue",
                message: format!(
                    "`{}` is not a Redis URL: write redis://HOST:PORT/DB (rediss:// for TLS; redis+sentinel://SENTINEL[,SENTINEL...]/MASTER[/DB] behind Sentinel)",
                    crate::redis::redact(other)
                ),
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

/// `jobhost dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Queue to show.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Where to listen. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:9465", env = "JOBHOST_DASHBOARD_ADDR")]
    pub addr: std::net::SocketAddr,
    /// Required of every request (basic auth password, or `Authorization:
    /// Bearer TOKEN`); at least 16 characters.
    #[arg(long, env = "JOBHOST_DASHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<SecretToken>,
}

/// A token that `Debug` never prints.
#[derive(Clone)]
pub struct SecretToken(pub String);

impl std::str::FromStr for SecretToken {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(SecretToken(text.to_owned()))
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where plugins come from (shared by `run` and `plugins`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Plugins")]
pub struct PluginSourceArgs {
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
    /// Keep compiled plugins here between runs (default
    /// $XDG_CACHE_HOME/jobhost or ~/.cache/jobhost).
    #[arg(long, value_name = "DIR", env = "JOBHOST_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin at start-up; keep nothing on disk.
    #[arg(long, env = "JOBHOST_NO_CACHE", global = true)]
    pub no_cache: bool,
}

impl PluginSourceArgs {
    /// The cache directory in force.
    pub fn cache(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(CompileCache::default_dir)
        }
    }
}

/// `jobhost plugins`.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Check one file instead of listing the folder.
    #[command(subcommand)]
    pub action: Option<PluginsAction>,
    /// Where the plugins are.
    #[command(flatten)]
    pub source: PluginSourceArgs,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_debug_or_error_of_the_arguments_shows_the_redis_password() {
        let parse = |queue: &str| {
            Cli::try_parse_from(["jobhost", "run", "--queue", queue, "https://e/1"])
                .expect("the arguments parse")
        };
        let cli = parse("redis://worker:s3cret@127.0.0.1:6379/0");
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("worker:***@"),
            "{shown}"
        );
        let Command::Run(args) = cli.command else {
            panic!("not a run")
        };
        let config = (*args).into_config().expect("a valid configuration");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("worker:***@"),
            "{shown}"
        );
        // A RabbitMQ URL too.
        let Command::Run(args) = parse("amqp://worker:s3cret@host/0").command else {
            panic!("not a run")
        };
        let config = (*args).into_config().expect("a valid configuration");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("amqp://worker:***@"),
            "{shown}"
        );
        // A URL that is not a queue is named in the error, redacted.
        let Command::Run(args) = parse("nats://worker:s3cret@host/0").command else {
            panic!("not a run")
        };
        let error = (*args).into_config().expect_err("not a queue").to_string();
        assert!(
            !error.contains("s3cret") && error.contains("***"),
            "{error}"
        );
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
