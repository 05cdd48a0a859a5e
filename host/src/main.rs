//! The `jobhost` binary: parse the command line, set up logging, run, and map
//! the result to an exit code (0 ok, 1 some jobs dead or input invalid,
//! 2 usage or configuration error).

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use jobhost::cli::{config, Cli, Command, LogFormat};
use jobhost::commands;

/// mimalloc rather than glibc's malloc: a job allocates many small, short
/// lived buffers (HTTP headers, store data, WIT strings), and glibc's
/// consolidation showed up in the profile (BENCHMARKS.md, Optimisations,
/// mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The config file first: it sets the variables the environment has not
    // set, before the command line is parsed (flags over variables over
    // the file; cli/config.rs).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    command.build();
    let applied = match config::locate(args.get(1..).unwrap_or_default())
        .and_then(|file| file.map(|file| config::apply(&file, &command)).transpose())
    {
        Ok(applied) => applied.unwrap_or_default(),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // clap reads each argument's variable when the command is made: make
    // it again, now that the file has set some.
    let mut command = Cli::command();
    command.build();
    let matches = match command.clone().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => match applied.blame(&error) {
            Some(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
            None => error.exit(),
        },
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // One trust store for every rediss:// connection of this process.
    if let Some(path) = redis_ca_cert(&matches) {
        if let Err(error) = jobhost::redis::trust_ca_file(&path) {
            eprintln!("error: --redis-ca-cert: {error}");
            return ExitCode::from(2);
        }
    }
    // And one for every amqps:// connection.
    if let Some(path) = deepest::<std::path::PathBuf>(&matches, "amqp_ca_cert") {
        if let Err(error) = jobhost::queue::amqp::trust_ca_file(&path) {
            eprintln!("error: --amqp-ca-cert: {error}");
            return ExitCode::from(2);
        }
    }
    let wait_replicas = deepest::<u32>(&matches, "redis_wait_replicas").unwrap_or(0);
    if wait_replicas > 0 {
        let timeout = deepest::<std::time::Duration>(&matches, "redis_wait_timeout")
            .unwrap_or(std::time::Duration::from_secs(1));
        jobhost::redis::wait_for_replicas(wait_replicas, timeout);
    }
    if let Some(("config", run)) = matches.subcommand() {
        println!("{}", config::describe(&command, run, &applied));
        return ExitCode::SUCCESS;
    }
    init_tracing(cli.verbose, cli.quiet, cli.log_format);
    // `run` spreads its workers over threads of its own (shards.rs); this
    // runtime carries shard 0 and the control tasks. The other commands
    // wait on Redis or the disk, one thread is plenty.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let json = cli.log_format == LogFormat::Json;
    match runtime.block_on(dispatch(cli.command, json)) {
        Ok(code) => code,
        Err(error) if json => {
            tracing::error!("{error:#}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// `--redis-ca-cert`, wherever in the subcommands it was given.
fn redis_ca_cert(matches: &clap::ArgMatches) -> Option<std::path::PathBuf> {
    let here = matches
        .try_get_one::<std::path::PathBuf>("redis_ca_cert")
        .ok()
        .flatten()
        .cloned();
    let deeper = matches.subcommand().and_then(|(_, sub)| redis_ca_cert(sub));
    deeper.or(here)
}

/// A global flag's value, wherever in the subcommands it was given.
fn deepest<T: Clone + Send + Sync + 'static>(matches: &clap::ArgMatches, id: &str) -> Option<T> {
    let here = matches.try_get_one::<T>(id).ok().flatten().cloned();
    let deeper = matches.subcommand().and_then(|(_, sub)| deepest(sub, id));
    deeper.or(here)
}

fn init_tracing(verbose: u8, quiet: u8, format: LogFormat) {
    use std::io::IsTerminal as _;
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    // Our own lines (and the plugins', target `plugin`) at the chosen level;
    // the libraries underneath only when something is wrong. lapin's own
    // lines are off: it logs every connection loss at ERROR level without
    // context, and every error it reports reaches jobhost, which logs it
    // with the broker, what it was doing and what happens next
    // (`JOBHOST_LOG=warn,lapin=debug` shows them).
    let default = format!("warn,lapin=off,jobhost={level},plugin={level}");
    let filter = tracing_subscriber::EnvFilter::try_from_env("JOBHOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        // Through the progress line's writer, which lifts the bar out of
        // the way of each line.
        LogFormat::Text => lines
            .with_writer(jobhost::progress::LogWriter)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => lines
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// `json`: the summary and errors go out as log lines too, so that stderr
/// holds nothing but JSON objects.
async fn dispatch(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let code = match command {
        Command::Run(args) => {
            let mut config = (*args).into_config()?;
            // A bar between JSON lines would spoil them.
            config.progress &= !json;
            let summary = jobhost::run::run(config).await?;
            if json {
                tracing::info!(
                    done = summary.done,
                    not_modified = summary.not_modified,
                    retried = summary.retried,
                    dead = summary.dead,
                    invalid = summary.invalid,
                    duplicates = summary.duplicates,
                    too_deep = summary.too_deep,
                    seconds = summary.elapsed.as_secs_f64(),
                    "summary"
                );
            } else {
                eprintln!("jobhost: {summary}");
            }
            u8::from(!summary.all_ok())
        }
        Command::Plugins(args) => commands::plugins(args).await?,
        Command::Enqueue(args) => commands::enqueue(args).await?,
        Command::Dead(args) => commands::dead(args).await?,
        Command::Stats(args) => commands::stats(args).await?,
        Command::Dashboard(args) => commands::dashboard(args).await?,
        Command::Schedule(args) => commands::schedule(args).await?,
        // Answered in main, where the parsed arguments are.
        Command::Config(_) => 0,
        Command::New(args) => {
            let dir = jobhost::scaffold::create(&args.name, args.lang, &args.dir)?;
            println!(
                "created {}: build with {0}/build.sh, test with {0}/test.sh",
                dir.display()
            );
            0
        }
    };
    Ok(ExitCode::from(code))
}
