//! The command line: clap definitions, and their validation into the typed
//! configurations the rest of the program uses (it never sees raw flags).
//!
//! Every flag of `run` can also come from a `JOBHOST_*` environment
//! variable, so flags, environment and service files agree.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::fetch::FetchConfig;
use crate::run::{Input, RunConfig};
use crate::runtime::engine::EngineLimits;
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
    /// Run each URL at most once in this run.
    #[arg(long, env = "JOBHOST_DEDUPE")]
    pub dedupe: bool,
    /// Write records (JSON Lines) to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE", env = "JOBHOST_OUTPUT")]
    pub output: Option<PathBuf>,
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
        if self.tasks.is_empty() && self.input.is_none() {
            return Err(usage(
                "TASK",
                "nothing to run: give task URLs as arguments, or --input FILE (or - for standard input)",
            ));
        }
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
            output: self.output,
            dead_letters: self.dead_letters,
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
                ..FetchConfig::default()
            },
            engine: EngineLimits {
                max_instances: self.concurrency.clamp(1, 1000) as u32,
                max_memory: self.max_memory,
            },
            call: CallLimits {
                default_timeout: self.plugin_timeout,
                max_timeout: self.max_plugin_timeout.max(self.plugin_timeout),
                default_memory: self.max_memory,
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
