//! The subcommands that are not `run`: `plugins`, `enqueue`, `dead`,
//! `stats`, `schedule`. Each takes its parsed arguments and returns the exit status
//! (0 ok, 1 the command found a problem); errors are configuration or
//! backend failures, reported by `main` with exit status 2.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::io::AsyncBufReadExt;

use crate::cli::{
    DeadAction, DeadArgs, EnqueueArgs, PluginsAction, PluginsArgs, ScheduleAction, ScheduleArgs,
    StatsArgs,
};
use crate::kv::{AnyKv, MemoryKv};
use crate::queue::amqp::{is_amqp_url, AmqpAdmin};
use crate::queue::redis::RedisAdmin;
use crate::runtime::engine::EngineLimits;
use crate::runtime::{CallLimits, PluginInfo, Runtime};
use crate::schedule::store::{RoundState, Store};
use crate::task::{now_millis, valid_plugin_name, Task};

/// `jobhost plugins [check FILE]`.
pub async fn plugins(args: PluginsArgs) -> anyhow::Result<u8> {
    let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
    let engine = EngineLimits::default();
    let cache = args.source.cache();
    match args.action {
        Some(PluginsAction::Check { file }) => {
            let runtime = Runtime::new(&engine, CallLimits::default(), kv, cache.as_deref())?;
            match runtime.load_file(&file).await {
                Ok(plugin) => {
                    if args.json {
                        println!("{}", serde_json::to_string_pretty(plugin.info())?);
                    } else {
                        println!("{}: ok", file.display());
                        print_info(plugin.info());
                    }
                    Ok(0)
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    Ok(1)
                }
            }
        }
        None => {
            let (_runtime, registry) = crate::run::load_plugins(
                &args.source.plugins,
                &engine,
                CallLimits::default(),
                kv,
                cache.as_deref(),
            )
            .await
            .context("listing plugins")?;
            if args.json {
                let infos: Vec<_> = registry.plugins().iter().map(|p| p.info()).collect();
                println!("{}", serde_json::to_string_pretty(&infos)?);
            } else if registry.is_empty() {
                println!("no plugins loaded from {}", args.source.plugins.display());
            } else {
                for plugin in registry.plugins() {
                    println!("{}", plugin.path().display());
                    print_info(plugin.info());
                }
            }
            Ok(0)
        }
    }
}

fn print_info(info: &PluginInfo) {
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

/// `jobhost enqueue`: parse every line first (reporting bad ones by number),
/// then send the good ones in pipelined batches.
pub async fn enqueue(args: EnqueueArgs) -> anyhow::Result<u8> {
    if let Some(name) = &args.plugin {
        if !valid_plugin_name(name) {
            anyhow::bail!(
                "--plugin: `{name}` is not a plugin name (lower-case letters, digits and `-`)"
            );
        }
    }
    if args.tasks.is_empty() && args.input.is_none() {
        anyhow::bail!("nothing to enqueue: give task URLs as arguments, or --input FILE (or - for standard input)");
    }
    let admin = AnyAdmin::connect(&args.queue).await?;
    if args.dedupe && matches!(admin, AnyAdmin::Amqp(_)) {
        anyhow::bail!("--dedupe needs a Redis queue: RabbitMQ keeps no set of URLs seen");
    }
    let due = args
        .at
        .or_else(|| args.delay.map(|d| now_millis() + d.as_millis() as u64));
    let invalid = std::cell::Cell::new(0u64);
    let mut accepted = 0usize;
    let mut total = 0usize;
    let mut batch: Vec<Task> = Vec::with_capacity(10_000);
    let take = |line: &str, place: &dyn Fn() -> String, batch: &mut Vec<Task>| {
        match Task::parse_line(line) {
            Ok(Some(mut task)) => {
                if task.plugin.is_none() {
                    task.plugin.clone_from(&args.plugin);
                }
                batch.push(task);
            }
            Ok(None) => {}
            Err(error) => {
                invalid.set(invalid.get() + 1);
                tracing::error!("{}: {error}; line skipped", place());
            }
        }
    };
    for (index, line) in args.tasks.iter().enumerate() {
        take(line, &|| format!("task argument {}", index + 1), &mut batch);
    }
    if let Some(input) = &args.input {
        let (name, reader): (String, Box<dyn tokio::io::AsyncRead + Unpin + Send>) = if input == "-"
        {
            ("standard input".into(), Box::new(tokio::io::stdin()))
        } else {
            (
                input.clone(),
                Box::new(
                    tokio::fs::File::open(input)
                        .await
                        .with_context(|| format!("cannot open the input file {input}"))?,
                ),
            )
        };
        let mut lines = tokio::io::BufReader::with_capacity(256 * 1024, reader);
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            if lines
                .read_until(b'\n', &mut line)
                .await
                .with_context(|| format!("reading {name}"))?
                == 0
            {
                break;
            }
            number += 1;
            match std::str::from_utf8(&line) {
                Ok(text) => take(text, &|| format!("{name} line {number}"), &mut batch),
                Err(e) => {
                    invalid.set(invalid.get() + 1);
                    tracing::error!("{name} line {number}: not UTF-8 text ({e}); line skipped");
                }
            }
            // Send full batches, and whatever is read before a read that may
            // block, so a slow producer's tasks go out as they come.
            if batch.len() >= 10_000 || (!batch.is_empty() && lines.buffer().is_empty()) {
                total += batch.len();
                accepted += admin.enqueue(&batch, due, args.dedupe).await?;
                batch.clear();
            }
        }
    }
    total += batch.len();
    accepted += admin.enqueue(&batch, due, args.dedupe).await?;
    let invalid = invalid.get();
    eprintln!(
        "jobhost: enqueued {accepted} of {total} tasks on {} ({} duplicates skipped, {invalid} invalid lines)",
        args.queue.queue_name,
        total - accepted
    );
    Ok(if invalid > 0 { 1 } else { 0 })
}

/// The queue of an admin command: Redis or RabbitMQ.
enum AnyAdmin {
    Redis(RedisAdmin),
    Amqp(AmqpAdmin),
}

impl AnyAdmin {
    async fn connect(queue: &crate::cli::QueueArgs) -> anyhow::Result<Self> {
        let url = queue.any_url()?;
        Ok(if is_amqp_url(url) {
            AnyAdmin::Amqp(AmqpAdmin::connect(url, &queue.queue_name).await?)
        } else {
            AnyAdmin::Redis(RedisAdmin::connect(url, &queue.queue_name).await?)
        })
    }

    async fn enqueue(
        &self,
        tasks: &[Task],
        due: Option<u64>,
        dedupe: bool,
    ) -> anyhow::Result<usize> {
        Ok(match self {
            AnyAdmin::Redis(admin) => admin.enqueue(tasks, due, dedupe, false).await?,
            AnyAdmin::Amqp(admin) => admin.enqueue(tasks, due).await?,
        })
    }

    async fn dead_list(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        Ok(match self {
            AnyAdmin::Redis(admin) => admin.dead_list().await?,
            AnyAdmin::Amqp(admin) => admin.dead_list().await?,
        })
    }

    async fn dead_retry(&self, ids: &[String]) -> anyhow::Result<usize> {
        Ok(match self {
            AnyAdmin::Redis(admin) => admin.dead_retry(ids).await?,
            AnyAdmin::Amqp(admin) => admin.dead_retry(ids).await?,
        })
    }

    async fn dead_purge(&self) -> anyhow::Result<u64> {
        Ok(match self {
            AnyAdmin::Redis(admin) => admin.dead_purge().await?,
            AnyAdmin::Amqp(admin) => admin.dead_purge().await?,
        })
    }
}

/// `jobhost dead list | retry | purge`.
pub async fn dead(args: DeadArgs) -> anyhow::Result<u8> {
    let admin = AnyAdmin::connect(&args.queue).await?;
    match args.action {
        DeadAction::List => {
            for letter in admin.dead_list().await? {
                println!("{letter}");
            }
            Ok(0)
        }
        DeadAction::Retry { ids, all } => {
            if ids.is_empty() && !all {
                anyhow::bail!("dead retry: name task ids, or --all");
            }
            let n = admin.dead_retry(&ids).await?;
            eprintln!("jobhost: {n} dead letters back on the queue");
            Ok(if !all && n < ids.len() { 1 } else { 0 })
        }
        DeadAction::Purge => {
            let n = admin.dead_purge().await?;
            eprintln!("jobhost: purged {n} dead letters");
            Ok(0)
        }
    }
}

/// `jobhost stats` of a RabbitMQ queue.
async fn amqp_stats(admin: &AmqpAdmin, args: &StatsArgs) -> anyhow::Result<u8> {
    let stats = admin.stats().await?;
    if args.json {
        println!("{}", serde_json::to_value(&stats)?);
    } else {
        println!("queue     {}", args.queue.queue_name);
        println!("ready     {}", stats.ready);
        println!("delayed   {}", stats.delayed);
        println!("dead      {}", stats.dead);
        println!("consumers {}", stats.consumers);
    }
    Ok(0)
}

/// `jobhost dashboard`: serve until stopped.
pub async fn dashboard(args: crate::cli::DashboardArgs) -> anyhow::Result<u8> {
    let admin = RedisAdmin::connect(args.queue.url()?, &args.queue.queue_name).await?;
    crate::dashboard::serve(
        admin,
        crate::dashboard::DashboardConfig {
            addr: args.addr,
            token: args.token.map(|token| token.0),
        },
    )
    .await?;
    Ok(0)
}

/// `jobhost stats`.
pub async fn stats(args: StatsArgs) -> anyhow::Result<u8> {
    let admin = match AnyAdmin::connect(&args.queue).await? {
        AnyAdmin::Redis(admin) => admin,
        AnyAdmin::Amqp(admin) => return amqp_stats(&admin, &args).await,
    };
    let stats = admin.stats().await?;
    // Each schedule's current round.
    let store = Store::new(admin);
    let mut rounds = Vec::new();
    for (schedule, state) in store.all().await? {
        if let Some(id) = &state.current {
            if let Some(round) = store.round(id).await? {
                rounds.push((schedule.name, round));
            }
        }
    }
    if args.json {
        let mut value = serde_json::to_value(&stats)?;
        if let serde_json::Value::Object(fields) = &mut value {
            let schedules = rounds
                .iter()
                .map(|(name, round)| (name.clone(), round_json(round)))
                .collect();
            fields.insert("schedules".into(), serde_json::Value::Object(schedules));
        }
        println!("{value}");
    } else {
        println!("queue     {}", args.queue.queue_name);
        println!("ready     {}", stats.ready);
        println!("in flight {}", stats.in_flight);
        println!("delayed   {}", stats.delayed);
        println!("dead      {}", stats.dead);
        println!("done      {}", stats.done);
        println!("  not modified {}", stats.not_modified);
        println!("retried   {}", stats.retried);
        println!("enqueued  {}", stats.enqueued);
        for (plugin, counts) in &stats.plugins {
            println!("  {plugin}: done {}, dead {}", counts.done, counts.dead);
        }
        for (name, round) in &rounds {
            println!(
                "schedule  {name}: round {}: {}",
                round.id,
                round_progress(round)
            );
        }
    }
    Ok(0)
}

/// `jobhost schedule ...`.
pub async fn schedule(args: ScheduleArgs) -> anyhow::Result<u8> {
    let admin = RedisAdmin::connect(args.queue.url()?, &args.queue.queue_name).await?;
    let store = Store::new(admin);
    match args.action {
        ScheduleAction::Add(add) => {
            let replace = add.replace;
            let schedule = add.into_schedule()?;
            store.add(&schedule, replace).await?;
            let next = schedule
                .next_after(now_millis())
                .map_or_else(|| "never".to_owned(), format_ms);
            eprintln!(
                "jobhost: schedule `{}` added ({}); next fire {next}",
                schedule.name,
                schedule.when.describe()
            );
        }
        ScheduleAction::List { json } => {
            for (schedule, state) in store.all().await? {
                let round = match &state.current {
                    Some(id) => store.round(id).await?,
                    None => None,
                };
                let after = state.last_fire.unwrap_or(schedule.anchor_ms);
                let next = if state.paused {
                    None
                } else {
                    schedule.next_after(after.max(now_millis().saturating_sub(1)))
                };
                if json {
                    let line = serde_json::json!({
                        "name": schedule.name,
                        "when": schedule.when.describe(),
                        "paused": state.paused,
                        "next_fire": next,
                        "last_fire": round.as_ref().map(|r| r.fire),
                        "fires": state.fires,
                        "missed": state.missed,
                        "overlapped": state.overlapped,
                        "round": round.as_ref().map(round_json),
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{}  {}{}  next {}  last {}  fires {}  missed {}  overlapped {}",
                        schedule.name,
                        schedule.when.describe(),
                        if state.paused { "  (paused)" } else { "" },
                        next.map_or_else(|| "-".to_owned(), format_ms),
                        round
                            .as_ref()
                            .map_or_else(|| "-".to_owned(), |r| format_ms(r.fire)),
                        state.fires,
                        state.missed,
                        state.overlapped,
                    );
                    if let Some(round) = &round {
                        println!("  round {}: {}", round.id, round_progress(round));
                    }
                }
            }
        }
        ScheduleAction::Remove { name } => {
            store.remove(&name).await?;
            eprintln!("jobhost: schedule `{name}` removed");
        }
        ScheduleAction::Pause { name } => {
            store.set_paused(&name, true).await?;
            eprintln!("jobhost: schedule `{name}` paused");
        }
        ScheduleAction::Resume { name } => {
            store.set_paused(&name, false).await?;
            eprintln!("jobhost: schedule `{name}` resumed");
        }
        ScheduleAction::Trigger { name } => {
            let schedule = store.get(&name).await?;
            let owner = format!("trigger:{}", crate::task::new_id());
            let id = crate::schedule::ticker::trigger(&store, &schedule, &owner).await?;
            eprintln!("jobhost: fired round {id}; producing it");
            match crate::schedule::ticker::produce(&store, &id, &schedule, 0, &owner).await? {
                Some(report) => eprintln!("jobhost: round {id}: {report}"),
                None => eprintln!(
                    "jobhost: round {id} was taken over by a host, which produces the rest"
                ),
            }
        }
    }
    Ok(0)
}

fn round_json(round: &RoundState) -> serde_json::Value {
    serde_json::json!({
        "id": round.id,
        "fire": round.fire,
        "total": round.total,
        "done": round.done,
        "dead": round.dead,
        "pending": round.pending(),
        "skipped": round.skipped,
        "cursor": round.cursor,
        "size": round.size,
        "produced": round.produced,
        "completed": round.completed,
    })
}

fn round_progress(round: &RoundState) -> String {
    let state = match (round.produced, round.completed) {
        (_, Some(at)) => format!("complete at {}", format_ms(at)),
        (true, None) => "running".to_owned(),
        (false, None) => format!("producing (position {})", round.cursor),
    };
    format!(
        "{state}; {} enqueued, {} done, {} dead, {} pending, {} skipped as still pending",
        round.total,
        round.done,
        round.dead,
        round.pending(),
        round.skipped
    )
}

/// A time in ms since the epoch as RFC 3339 UTC.
fn format_ms(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.round(jiff::Unit::Second).map_or(t, |r| r).to_string())
        .unwrap_or_else(|_| ms.to_string())
}
