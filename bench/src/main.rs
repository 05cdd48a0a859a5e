//! `jobhost-bench`: the two in-process measurements of the benchmark suite.
//!
//! - `dispatch`: per-job cost of `jobhost::runtime::Plugin::handle` (fresh
//!   instance, tiny or given payload), through jobhost's public API only:
//!   `Runtime::new`, `Runtime::load_file`, `Plugin::handle`. One job at a
//!   time on a current-thread tokio runtime; each job is timed on its own.
//! - `bare`: the ceiling. A plain wasmtime loop with no jobhost code on the
//!   per-job path: new `Store` with a fresh, empty `WasiCtx`, instantiate from
//!   an `InstancePre`, call `handle`, drop. Synchronous API, pooling
//!   allocator with memory and tables kept resident and `pagemap_scan`,
//!   no epoch interruption, no fuel, stub `log`/`kv` imports. On T threads
//!   sharing one engine.
//!
//! - `http1`: three clients for plain `http://` URLs (the host's lean one,
//!   hyper's connection-level client, reqwest) fetching from a server, W
//!   workers on one current-thread runtime; see src/http1.rs.
//!
//! Each subcommand prints one JSON object on stdout; bench/bench.py reads it.
//! Usage: see `usage()` below.

mod http1;

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// The host's allocator (see host/src/main.rs), so that the bare loop is not
/// slower than jobhost for an allocator reason alone.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage() -> &'static str {
    "usage:
  jobhost-bench dispatch --plugin FILE [--body FILE | --body-text TEXT] [--content-type T]
                         [--url URL] [--iters N] [--warmup N] [--cache-dir DIR] [--reuse N]
                         [--headers FILE]
  jobhost-bench bare --plugin FILE [--threads T] [--iters N per thread] [--warmup N]
                     [--engine best|jobhost] [--body-text TEXT]
  jobhost-bench phases --plugin FILE [--iters N] [--warmup N] [--body FILE | --body-text TEXT]
                       [--content-type T] [--url URL] [--calls N] [--fuel 1] [--headers FILE]
                       (jobhost's engine settings, one thread: each job's instantiation,
                        first call, a second call on the same instance, and drop, timed apart;
                        with --calls, one instance serving N calls in a row)
  jobhost-bench http1 --client lean|hyper-conn|reqwest --base http://HOST:PORT/PATH/
                      [--first 100000] [--count 10000] [--requests 100000]
                      [--workers 64] [--warmup 500]
                      (URL i is BASE followed by FIRST + i % COUNT)"
}

/// `--key value` pairs after the subcommand.
struct Args {
    pairs: Vec<(String, String)>,
}

impl Args {
    fn parse(raw: &[String]) -> Result<Self> {
        let mut pairs = Vec::new();
        let mut iter = raw.iter();
        while let Some(key) = iter.next() {
            let Some(name) = key.strip_prefix("--") else {
                bail!("unexpected argument `{key}`\n{}", usage());
            };
            let value = iter
                .next()
                .with_context(|| format!("--{name} needs a value\n{}", usage()))?;
            pairs.push((name.to_owned(), value.clone()));
        }
        Ok(Args { pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, name: &str, default: u64) -> Result<u64> {
        match self.get(name) {
            Some(v) => v
                .parse()
                .with_context(|| format!("--{name} must be a number, got `{v}`")),
            None => Ok(default),
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("dispatch") => Args::parse(&argv[1..]).and_then(|a| dispatch(&a)),
        Some("bare") => Args::parse(&argv[1..]).and_then(|a| bare(&a)),
        Some("phases") => Args::parse(&argv[1..]).and_then(|a| phases(&a)),
        Some("http1") => Args::parse(&argv[1..]).and_then(|a| http1::http1(&a)),
        _ => {
            eprintln!("{}", usage());
            std::process::exit(2);
        }
    };
    match result {
        Ok(value) => println!("{value}"),
        Err(error) => {
            eprintln!("jobhost-bench: {error:#}");
            std::process::exit(1);
        }
    }
}

/// Nearest-rank percentiles and the mean of per-job times, in microseconds.
fn summarise(mut nanos: Vec<u64>) -> Value {
    if nanos.is_empty() {
        return json!({});
    }
    nanos.sort_unstable();
    let n = nanos.len();
    let rank = |q: f64| nanos[((q * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1000.0;
    let mean = nanos.iter().sum::<u64>() as f64 / n as f64 / 1000.0;
    json!({
        "samples": n,
        "p50_us": rank(0.50),
        "p90_us": rank(0.90),
        "p99_us": rank(0.99),
        "p999_us": rank(0.999),
        "max_us": nanos[n - 1] as f64 / 1000.0,
        "mean_us": mean,
    })
}

fn body_of(args: &Args) -> Result<Vec<u8>> {
    Ok(match (args.get("body"), args.get("body-text")) {
        (Some(file), _) => std::fs::read(file).with_context(|| format!("reading {file}"))?,
        (None, Some(text)) => text.as_bytes().to_vec(),
        (None, None) => b"x".to_vec(),
    })
}

/// `--headers FILE`: response headers for the plugin, one `name: value` per
/// line (names lower-cased, as the host passes them); none without it.
fn headers_of(args: &Args) -> Result<Vec<(String, String)>> {
    let Some(file) = args.get("headers") else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .with_context(|| format!("{file}: `{line}` is not `name: value`"))?;
            Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect()
}

fn plugin_path(args: &Args) -> Result<PathBuf> {
    let path = PathBuf::from(args.get("plugin").context("--plugin FILE is required")?);
    if !path.is_file() {
        bail!("{}: no such plugin file", path.display());
    }
    Ok(path)
}

// ---------------------------------------------------------------------------
// dispatch: jobhost's own per-job path

fn dispatch(args: &Args) -> Result<Value> {
    let path = plugin_path(args)?;
    let body = body_of(args)?;
    let content_type = args.get("content-type").unwrap_or("text/plain").to_owned();
    let url = args
        .get("url")
        .unwrap_or("inline:bench-dispatch")
        .to_owned();
    let iters = args.num("iters", 20_000)?;
    let warmup = args.num("warmup", 1_000)?;
    let cache_dir = args.get("cache-dir").map(PathBuf::from);
    let headers = headers_of(args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        use jobhost::fetch::Fetched;
        use jobhost::kv::{AnyKv, MemoryKv};
        use jobhost::runtime::engine::EngineLimits;
        use jobhost::runtime::{CallLimits, Runtime};
        use jobhost::task::Task;

        let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
        // --reuse N: one instance serves N jobs in a row, as
        // `--reuse-instances PLUGIN=N` has it (the plugin named by the
        // file's stem).
        let reuse = args.num("reuse", 0)? as u32;
        let mut engine_limits = EngineLimits::default();
        let mut call_limits = CallLimits::default();
        if reuse >= 2 {
            engine_limits.warm_instances = 4;
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            call_limits.reuse.insert(stem.to_owned(), reuse);
        }
        let runtime = Runtime::new(&engine_limits, call_limits, kv, cache_dir.as_deref())?;
        let load_started = Instant::now();
        let plugin = runtime
            .load_file(&path)
            .await
            .with_context(|| format!("loading {}", path.display()))?;
        let load_ms = load_started.elapsed().as_secs_f64() * 1000.0;
        let mut task = Task::new(url.clone());
        task.attempt = 1;
        let content = || Fetched {
            status: 200,
            final_url: url.clone(),
            headers: headers.clone(),
            content_type: Some(content_type.clone()),
            body: body.clone(),
        };
        let mut nanos = Vec::with_capacity(iters as usize);
        let mut records = 0usize;
        let wall = Instant::now();
        for i in 0..warmup + iters {
            if i == warmup {
                // Reset the wall clock after the warm-up.
                nanos.clear();
            }
            let content = content();
            let started = Instant::now();
            let outcome = plugin.handle(&task, content).await;
            let elapsed = started.elapsed();
            let handled = outcome.map_err(|e| anyhow::anyhow!("job {i} failed: {e}"))?;
            records += handled.outcome.records.len();
            nanos.push(elapsed.as_nanos() as u64);
        }
        let total = wall.elapsed();
        let measured: u64 = nanos.iter().sum();
        Ok(json!({
            "what": "dispatch",
            "plugin": plugin.name(),
            "file": path.display().to_string(),
            "file_bytes": std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            "load_ms": load_ms,
            "load_note": plugin.load_note(),
            "body_bytes": body.len(),
            "iters": iters,
            "warmup": warmup,
            "records_per_job": records as f64 / (warmup + iters) as f64,
            "jobs_per_s_sequential": iters as f64 / (measured as f64 / 1e9),
            "wall_s": total.as_secs_f64(),
            "latency": summarise(nanos),
        }))
    })
}

// ---------------------------------------------------------------------------
// bare: a wasmtime loop with nothing of jobhost on the per-job path

mod wit {
    // The same WIT as the host, with synchronous imports and exports.
    wasmtime::component::bindgen!({ world: "plugin", path: "../wit" });
}

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Store data of one bare job: an empty WASI context and a resource table.
struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit::jobhost::plugin::types::Host for Bare {}

impl wit::jobhost::plugin::log::Host for Bare {
    fn log(&mut self, _level: wit::jobhost::plugin::log::Level, _message: String) {}
}

impl wit::jobhost::plugin::kv::Host for Bare {
    fn get(&mut self, _key: String) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn set(&mut self, _key: String, _value: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
    fn delete(&mut self, _key: String) -> Result<bool, String> {
        Ok(false)
    }
    fn add(&mut self, _key: String, _delta: i64) -> Result<(), String> {
        Ok(())
    }
    fn increment(&mut self, _key: String, delta: i64) -> Result<i64, String> {
        Ok(delta)
    }
}

const MAX_MEMORY: usize = 64 << 20;

/// The best settings measured on these machines (../shared/TOOLCHAINS.md).
fn best_engine(instances: u32) -> Result<(Engine, &'static str)> {
    let build = |scan: Enabled| -> wasmtime::Result<Engine> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 16)
            .total_memories(instances * 4)
            .total_tables(instances * 8)
            .total_stacks(instances)
            .max_memories_per_module(2)
            .max_tables_per_module(4)
            .max_memory_size(MAX_MEMORY)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(1 << 20)
            .pagemap_scan(scan);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_reservation(MAX_MEMORY as u64)
            .memory_reservation_for_growth(0)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        Engine::new(&config)
    };
    match build(Enabled::Yes) {
        Ok(engine) => Ok((engine, "yes")),
        // Kernels before 6.7 have no PAGEMAP_SCAN ioctl.
        Err(_) => Ok((
            build(Enabled::Auto).map_err(|e| anyhow::anyhow!("{e:#}"))?,
            "auto (yes refused by this kernel)",
        )),
    }
}

fn bare(args: &Args) -> Result<Value> {
    let path = plugin_path(args)?;
    let threads = args.num("threads", 1)?.max(1) as usize;
    let iters = args.num("iters", 50_000)?;
    let warmup = args.num("warmup", 2_000)?;
    let body = body_of(args)?;
    let which = args.get("engine").unwrap_or("best").to_owned();
    let instances = (threads as u32 * 2).max(4);
    let (engine, scan, epoch) = match which.as_str() {
        "best" => {
            let (engine, scan) = best_engine(instances)?;
            (engine, scan, false)
        }
        // jobhost's own engine settings (epoch interruption on, pagemap_scan
        // Auto), driven by this same synchronous loop.
        "jobhost" => {
            let limits = jobhost::runtime::engine::EngineLimits {
                max_instances: instances,
                ..Default::default()
            };
            let engine = jobhost::runtime::engine::build_engine(&limits)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?;
            (engine, "auto (jobhost's build_engine)", true)
        }
        other => bail!("--engine must be best or jobhost, got `{other}`"),
    };
    let mut linker: Linker<Bare> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    wit::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let bytes = std::fs::read(&path)?;
    let compiled = Instant::now();
    let component = Component::new(&engine, &bytes).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let compile_ms = compiled.elapsed().as_secs_f64() * 1000.0;
    let pre = wit::PluginPre::new(
        linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?,
    )
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let pre = Arc::new(pre);

    let job = {
        let engine = engine.clone();
        let pre = pre.clone();
        let body = body.clone();
        move |n: u64| -> Result<()> {
            let mut store = Store::new(
                &engine,
                Bare {
                    wasi: WasiCtx::builder().build(),
                    table: ResourceTable::new(),
                },
            );
            if epoch {
                store.set_epoch_deadline(1 << 40);
            }
            let instance = pre
                .instantiate(&mut store)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let task = wit::Task {
                id: format!("bare-{n}"),
                url: "inline:bare".into(),
                attempt: 1,
                metadata: Vec::new(),
                enqueued_at: 0,
            };
            let content = wit::jobhost::plugin::types::Content {
                status: 200,
                final_url: "inline:bare".into(),
                headers: Vec::new(),
                content_type: Some("text/plain".into()),
                body: body.clone(),
            };
            match instance
                .call_handle(&mut store, &task, &content)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?
            {
                Ok(_) => Ok(()),
                Err(e) => bail!("the plugin refused the job: {e:?}"),
            }
        }
    };
    // Warm up on the main thread (faults in the pool slots).
    for n in 0..warmup {
        job(n)?;
    }
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::new();
    for t in 0..threads {
        let job = job.clone();
        let barrier = barrier.clone();
        handles.push(std::thread::spawn(move || -> Result<Vec<u64>> {
            let mut nanos = Vec::with_capacity(iters as usize);
            barrier.wait();
            for n in 0..iters {
                let started = Instant::now();
                job(t as u64 * iters + n)?;
                nanos.push(started.elapsed().as_nanos() as u64);
            }
            Ok(nanos)
        }));
    }
    barrier.wait();
    let started = Instant::now();
    let mut all = Vec::new();
    for handle in handles {
        all.extend(
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??,
        );
    }
    let wall = started.elapsed();
    let jobs = all.len() as f64;
    Ok(json!({
        "what": "bare",
        "engine": which,
        "pagemap_scan": scan,
        "epoch_interruption": epoch,
        "file": path.display().to_string(),
        "compile_ms": compile_ms,
        "threads": threads,
        "iters_per_thread": iters,
        "jobs_per_s": jobs / wall.as_secs_f64(),
        "wall_s": wall.as_secs_f64(),
        "latency": summarise(all),
    }))
}

// ---------------------------------------------------------------------------
// phases: where a fresh instance's time goes

/// Time the phases of a fresh-instance job apart, with jobhost's engine
/// settings on one thread: instantiation, the first `handle` call, a second
/// call on the same instance (what `--reuse-instances` pays), and the drop
/// that resets the instance's memory for the next one; with each phase's
/// minor page faults, and the pages the last job wrote.
fn phases(args: &Args) -> Result<Value> {
    let path = plugin_path(args)?;
    let iters = args.num("iters", 2_000)?;
    let warmup = args.num("warmup", 200)?;
    let body = body_of(args)?;
    let content_type = args.get("content-type").unwrap_or("text/plain").to_owned();
    let url = args.get("url").unwrap_or("inline:bench-phases").to_owned();
    // --fuel 1: count the WebAssembly operators of the first and the warm
    // call (the engine compiled with fuel, as `--fuel` has it): unlike the
    // microseconds, the count does not move with the machine's speed.
    let count_fuel = args.num("fuel", 0)? != 0;
    let limits = jobhost::runtime::engine::EngineLimits {
        max_instances: 4,
        fuel: count_fuel,
        ..Default::default()
    };
    let engine =
        jobhost::runtime::engine::build_engine(&limits).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let mut linker: Linker<Bare> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    wit::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let bytes = std::fs::read(&path)?;
    let component = Component::new(&engine, &bytes).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let pre = wit::PluginPre::new(
        linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?,
    )
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let task = wit::Task {
        id: "phases".into(),
        url: url.clone(),
        attempt: 1,
        metadata: Vec::new(),
        enqueued_at: 0,
    };
    let content = wit::jobhost::plugin::types::Content {
        status: 200,
        final_url: url.clone(),
        headers: headers_of(args)?,
        content_type: Some(content_type),
        body,
    };
    // A fresh instance in a store of its own.
    let fresh = || -> Result<(Store<Bare>, wit::Plugin)> {
        let mut store = Store::new(
            &engine,
            Bare {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(1 << 40);
        if count_fuel {
            store
                .set_fuel(u64::MAX / 2)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        }
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok((store, instance))
    };
    let mut times: [Vec<u64>; 4] = Default::default();
    let mut faults = [0u64; 4];
    // Operators executed: the first call, the warm call (with --fuel).
    let mut fuel = [0u64; 2];
    // Only with --fuel: without it `get_fuel` returns an error, and an error
    // captures a backtrace when RUST_BACKTRACE is set, inside the timed phases.
    let fuel_left = |store: &Store<Bare>| {
        if count_fuel {
            store.get_fuel().unwrap_or(0)
        } else {
            0
        }
    };
    let mut written = None;
    for n in 0..warmup + iters {
        let f0 = minor_faults();
        let t0 = Instant::now();
        let (mut store, instance) = fresh()?;
        let t1 = Instant::now();
        let f1 = minor_faults();
        let u1 = fuel_left(&store);
        for _ in 0..2 {
            if let Err(e) = instance
                .call_handle(&mut store, &task, &content)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?
            {
                bail!("the plugin refused the job: {e:?}");
            }
        }
        let t2 = Instant::now();
        let f2 = minor_faults();
        let u2 = fuel_left(&store);
        // A third call timed alone is a warm call; the first call's cost is
        // the two calls above less this one.
        instance
            .call_handle(&mut store, &task, &content)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?
            .map_err(|e| anyhow::anyhow!("the plugin refused the job: {e:?}"))?;
        let t3 = Instant::now();
        let f3 = minor_faults();
        let u3 = fuel_left(&store);
        if n + 1 == warmup + iters {
            written = written_runs();
        }
        drop(store);
        let t4 = Instant::now();
        let f4 = minor_faults();
        if n >= warmup {
            let warm_fuel = u2 - u3;
            fuel[0] += (u1 - u2).saturating_sub(warm_fuel);
            fuel[1] += warm_fuel;
            let warm = f3 - f2;
            for (total, add) in
                faults
                    .iter_mut()
                    .zip([f1 - f0, (f2 - f1).saturating_sub(warm), warm, f4 - f3])
            {
                *total += add;
            }
            let warm = (t3 - t2).as_nanos() as u64;
            times[0].push((t1 - t0).as_nanos() as u64);
            times[1].push(((t2 - t1).as_nanos() as u64).saturating_sub(warm));
            times[2].push(warm);
            times[3].push((t4 - t3).as_nanos() as u64);
        }
    }
    let [instantiate, first_call, warm_call, drop_reset] = times;
    // With --calls N: one instance serving N calls in a row, as
    // `--reuse-instances PLUGIN=N` has it, each call timed (the first
    // left out), by tenths of the run.
    let calls = args.num("calls", 0)?;
    let mut reused = Vec::with_capacity(calls as usize);
    if calls > 1 {
        let (mut store, instance) = fresh()?;
        for _ in 0..calls {
            let started = Instant::now();
            instance
                .call_handle(&mut store, &task, &content)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?
                .map_err(|e| anyhow::anyhow!("the plugin refused the job: {e:?}"))?;
            reused.push(started.elapsed().as_nanos() as u64);
        }
    }
    let tenth = (reused.len().saturating_sub(1) / 10).max(1);
    let by_tenth: Vec<f64> = reused
        .get(1..)
        .unwrap_or_default()
        .chunks(tenth)
        .map(|c| c.iter().sum::<u64>() as f64 / c.len() as f64 / 1000.0)
        .collect();
    let per_job = |n: u64| n as f64 / iters.max(1) as f64;
    Ok(json!({
        "slot_after_last_call": written,
        "reused_calls": calls,
        "reused_call_mean_us_by_tenth": by_tenth,
        "minor_faults_per_job": {
            "instantiate": per_job(faults[0]),
            "first_call": per_job(faults[1]),
            "warm_call": per_job(faults[2]),
            "drop": per_job(faults[3]),
        },
        "fuel_per_job": count_fuel.then(|| json!({
            "first_call": per_job(fuel[0]),
            "warm_call": per_job(fuel[1]),
        })),
        "what": "phases",
        "file": path.display().to_string(),
        "iters": iters,
        "instantiate": summarise(instantiate),
        "first_call": summarise(first_call),
        "warm_call": summarise(warm_call),
        "drop": summarise(drop_reset),
    }))
}

/// This thread's minor page faults so far (getrusage RUSAGE_THREAD).
fn minor_faults() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage.ru_minflt as u64
    }
}

/// The private (written) pages of the plugin memories mapped from a memory
/// image (`/proc/self/maps` entries named `memfd:wasm-memory-image`, with
/// the mappings right after them), how many separate runs they form
/// (wasmtime's reset keeps written pages resident run by run), and where
/// each run lies in its slot.
fn written_runs() -> Option<Value> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let mut pagemap = std::fs::File::open("/proc/self/pagemap").ok()?;
    // Writable mappings, adjacent ones merged (a slot is the image mapping
    // followed by anonymous memory), kept when one of them is the image.
    let mut slots: Vec<(u64, u64, bool)> = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (range, perms) = (fields.next()?, fields.next()?);
        let image = line.contains("memfd:wasm-memory-image");
        let (a, b) = range.split_once('-')?;
        let (a, b) = (
            u64::from_str_radix(a, 16).ok()?,
            u64::from_str_radix(b, 16).ok()?,
        );
        if !perms.starts_with("rw") {
            continue;
        }
        match slots.last_mut() {
            Some(last) if last.1 == a => {
                last.1 = b;
                last.2 |= image;
            }
            _ => slots.push((a, b, image)),
        }
    }
    // Each slot's runs of written pages, as [first page, pages] from the
    // slot's start: where in the guest's memory a job writes.
    let mut layout: Vec<Vec<[u64; 2]>> = Vec::new();
    for (a, b, image) in slots {
        if !image {
            continue;
        }
        let mut ranges: Vec<[u64; 2]> = Vec::new();
        let pages = ((b - a) / 4096) as usize;
        let mut entries = vec![0u8; pages * 8];
        pagemap.seek(SeekFrom::Start(a / 4096 * 8)).ok()?;
        pagemap.read_exact(&mut entries).ok()?;
        for (index, entry) in (0u64..).zip(entries.chunks_exact(8)) {
            let bits = u64::from_le_bytes(entry.try_into().ok()?);
            // Present and not file-backed: a private copy the guest wrote.
            if bits >> 63 & 1 == 1 && bits >> 61 & 1 == 0 {
                match ranges.last_mut() {
                    Some(last) if last[0] + last[1] == index => last[1] += 1,
                    _ => ranges.push([index, 1]),
                }
            }
        }
        layout.push(ranges);
    }
    let written: u64 = layout.iter().flatten().map(|run| run[1]).sum();
    let runs = layout.iter().map(Vec::len).sum::<usize>();
    Some(json!({ "private_pages": written, "runs": runs, "ranges_by_slot": layout }))
}
