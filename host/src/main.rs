//! The `jobhost` binary: parse the command line, set up logging, run, and map
//! the result to an exit code (0 ok, 1 some jobs dead or input invalid,
//! 2 usage or configuration error).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use jobhost::cli::{Cli, Command, PluginsAction, PluginsArgs};
use jobhost::kv::{AnyKv, MemoryKv};
use jobhost::runtime::engine::EngineLimits;
use jobhost::runtime::{CallLimits, Runtime};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(verbose: u8, quiet: u8) {
    use std::io::IsTerminal as _;
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    // Our own lines (and the plugins', target `plugin`) at the chosen level;
    // the libraries underneath only when something is wrong.
    let default = format!("warn,jobhost={level},plugin={level}");
    let filter = tracing_subscriber::EnvFilter::try_from_env("JOBHOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let config = (*args).into_config()?;
            let summary = jobhost::run::run(config).await?;
            eprintln!("jobhost: {summary}");
            Ok(if summary.all_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Plugins(args) => plugins(args).await,
    }
}

async fn plugins(args: PluginsArgs) -> anyhow::Result<ExitCode> {
    let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
    let engine = EngineLimits::default();
    match args.action {
        Some(PluginsAction::Check { file }) => {
            let runtime = Runtime::new(&engine, CallLimits::default(), kv)?;
            match runtime.load_file(&file).await {
                Ok(plugin) => {
                    if args.json {
                        println!("{}", serde_json::to_string_pretty(plugin.info())?);
                    } else {
                        println!("{}: ok", file.display());
                        print_info(plugin.info());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        None => {
            let (_runtime, registry) =
                jobhost::run::load_plugins(&args.plugins, &engine, CallLimits::default(), kv)
                    .await
                    .context("listing plugins")?;
            if args.json {
                let infos: Vec<_> = registry.plugins().iter().map(|p| p.info()).collect();
                println!("{}", serde_json::to_string_pretty(&infos)?);
            } else if registry.is_empty() {
                println!("no plugins loaded from {}", args.plugins.display());
            } else {
                for plugin in registry.plugins() {
                    println!("{}", plugin.path().display());
                    print_info(plugin.info());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_info(info: &jobhost::runtime::PluginInfo) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    println!("  name:          {} {}", info.name, info.version);
    println!("  description:   {}", info.description);
    println!("  url patterns:  {}", list(&info.url_patterns));
    println!("  content types: {}", list(&info.content_types));
    if let Some(limits) = &info.limits {
        println!(
            "  limits asked:  timeout {:?} ms, memory {:?} bytes",
            limits.timeout_ms, limits.memory_bytes
        );
    }
}
