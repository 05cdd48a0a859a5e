//! The plugin runtime: loads component files, checks them against the
//! `jobhost:plugin` world and runs one fresh instance per job.
//!
//! Compilation happens once per file; the linker is built once per runtime;
//! each file gets a pre-instantiated [`PluginPre`], so a job pays only for a
//! new store, instantiation from the pool, the call and the slot reset. No
//! state survives between jobs except what the plugin put in the key-value
//! store. A trap fails the job it happened in, never the host.
//!
//! Modules: `engine` (wasmtime settings, epoch clock), `bindings` (generated
//! from the WIT), `host_imports` (what a plugin can call), `random` (the
//! one WASI function jobhost serves itself).

pub mod bindings;
pub mod cache;
pub mod engine;
pub mod guest_output;
pub mod host_imports;
pub mod limits;
pub mod outbound;
pub mod random;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use self::bindings::{PluginPre, Task as WitTask};
use self::cache::{CompileCache, Source};
use self::engine::{build_engine, EngineLimits, EpochTicker, READY_INSTANCES};
use self::host_imports::HostState;
use self::limits::{check_outcome, describe_trap, JobLimiter, OutputLimits};
use crate::fetch::Fetched;
use crate::kv::{AnyKv, KvWrite};
use crate::task::{valid_plugin_name, Task};

/// The world every plugin must target, as users see it in errors.
pub const WORLD: &str = "jobhost:plugin/plugin@0.1.0";

/// What a successful `handle` call produced.
#[derive(Debug)]
pub struct Handled {
    /// The plugin's answer.
    pub outcome: bindings::Outcome,
    /// Its key-value writes, in order, to apply with the acknowledgement.
    pub writes: Vec<KvWrite>,
}

/// Defaults and operator maximums for each call.
#[derive(Debug, Clone)]
pub struct CallLimits {
    /// Deadline of one `handle` call unless the plugin asks for another.
    pub default_timeout: Duration,
    /// Largest deadline a plugin may ask for.
    pub max_timeout: Duration,
    /// Memory of one instance unless the plugin asks for less.
    pub default_memory: u64,
    /// Fuel per call, if the engine counts fuel.
    pub fuel: Option<u64>,
    /// Limits on what a call returns.
    pub output: OutputLimits,
    /// Hosts each plugin may call with `wasi:http`.
    pub outbound: outbound::OutboundPolicy,
    /// Plugins whose instances serve several jobs (name → jobs per
    /// instance): the opt-in fast path for large components.
    pub reuse: std::collections::HashMap<String, u32>,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            default_timeout: Duration::from_secs(5),
            max_timeout: Duration::from_secs(60),
            default_memory: 64 << 20,
            fuel: None,
            output: OutputLimits::default(),
            outbound: outbound::OutboundPolicy::default(),
            reuse: std::collections::HashMap::new(),
        }
    }
}

/// Why a plugin file could not be loaded. Each names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// No `\0asm` header.
    #[error("{path}: not a WebAssembly file (it does not start with the \\0asm header)")]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// A core module rather than a component.
    #[error("{path}: is a core WebAssembly module, not a component; build it for wasm32-wasip2, or wrap it with `wasm-tools component new`")]
    CoreModule {
        /// The file.
        path: PathBuf,
    },
    /// Wasmtime could not compile it.
    #[error("{path}: not a valid component: {message}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// Wasmtime's error chain.
        message: String,
    },
    /// Imports or exports that do not match the world.
    #[error("{path}: does not match the world {WORLD}: {message}")]
    WrongWorld {
        /// The file.
        path: PathBuf,
        /// What is missing or mismatched.
        message: String,
    },
    /// `describe()` trapped or answered nonsense.
    #[error("{path}: describe() failed: {message}")]
    Describe {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Why one call of `handle` did not produce an outcome.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin returned `handle-error::retry`.
    #[error("{message}")]
    Retry {
        /// The plugin's message.
        message: String,
        /// The delay it asked for.
        delay: Option<Duration>,
    },
    /// The plugin returned `handle-error::fail`.
    #[error("{0}")]
    Fail(String),
    /// The instance trapped (panic, unreachable, deadline, memory).
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The instance could not be created.
    #[error("could not instantiate plugin: {0}")]
    Instantiate(String),
    /// The outcome broke an output limit.
    #[error("{0}")]
    Limit(String),
}

/// Limits a plugin asked for in `describe()`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RequestedLimits {
    /// Deadline per call, milliseconds.
    pub timeout_ms: Option<u64>,
    /// Memory per instance, bytes.
    pub memory_bytes: Option<u64>,
}

/// A plugin's `describe()` answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PluginInfo {
    /// Routing name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// One line about it.
    pub description: String,
    /// URL patterns it claims.
    pub url_patterns: Vec<String>,
    /// Media types it claims.
    pub content_types: Vec<String>,
    /// Limits it asked for.
    pub limits: Option<RequestedLimits>,
}

/// State shared by the runtime and every plugin it loaded.
struct Shared {
    engine: Engine,
    linker: Linker<HostState>,
    kv: Arc<AnyKv>,
    limits: CallLimits,
    /// One permit per pool slot: jobs wait here instead of failing when the
    /// pool is full.
    slots: Semaphore,
    /// Idle warm instances, all plugins together, and their ceiling.
    idle_warm: AtomicUsize,
    warm_budget: usize,
    /// Fresh instances made ahead of their job (ready or being made), all
    /// plugins together; at most [`READY_INSTANCES`].
    ready_count: AtomicUsize,
    cache: Option<CompileCache>,
    _ticker: EpochTicker,
}

/// Loads plugins and owns the engine they run in.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// A loaded, checked plugin, ready to run jobs.
pub struct Plugin {
    shared: Arc<Shared>,
    pre: PluginPre<HostState>,
    name: Arc<str>,
    info: PluginInfo,
    path: PathBuf,
    timeout: Duration,
    memory: u64,
    source: Source,
    load_time: Duration,
    allowed_outbound: Arc<[String]>,
    /// Jobs per instance (the opt-in fast path; 0 or 1: fresh per job).
    reuse: u32,
    /// Whether it imports `wasi:cli/stderr`, so that what it prints when it
    /// fails can reach the job's error (see [`trap_message`]).
    prints: bool,
    warm: std::sync::Mutex<Vec<Warm>>,
    /// A fresh instance made ahead of the next job (see [`Plugin::prepare`]),
    /// and whether one is being made.
    ready: std::sync::Mutex<Option<Warm>>,
    preparing: AtomicBool,
    /// Store data of finished jobs, recycled for the next ones (see
    /// BENCHMARKS.md, Optimisations, store data recycled).
    spare: std::sync::Mutex<Vec<HostState>>,
}

/// Most recycled store data kept per plugin.
const SPARE_STATES: usize = 64;

/// An idle instance kept for reuse, with the jobs it served and the thread
/// that ran its last job.
struct Warm {
    store: Store<HostState>,
    instance: bindings::Plugin,
    uses: u32,
    thread: std::thread::ThreadId,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        // A plugin replaced or removed (hot reload) gives its instance made
        // ahead back to the engine-wide count; the store frees its slot.
        let ready = self.ready.get_mut().unwrap_or_else(|p| p.into_inner());
        if ready.take().is_some() {
            self.shared.ready_count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("info", &self.info)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// The key-value store the plugins' `kv` import uses.
    pub fn kv(&self) -> &Arc<AnyKv> {
        &self.shared.kv
    }

    /// A runtime with its own engine, epoch clock and pool.
    ///
    /// With `cache_dir`, compiled plugins are kept there between runs.
    pub fn new(
        engine_limits: &EngineLimits,
        limits: CallLimits,
        kv: Arc<AnyKv>,
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        if limits.fuel.is_some() && !engine_limits.fuel {
            anyhow::bail!("a fuel budget needs an engine that counts fuel");
        }
        let engine = build_engine(engine_limits)
            .map_err(flatten)
            .with_context(|| {
                format!(
                    "configuring the WebAssembly engine: its pool reserves address space for \
                     {} plugin instances of up to {} MiB each; lower --concurrency or \
                     --max-memory, or raise the address-space limit (ulimit -v)",
                    engine_limits.max_instances,
                    engine_limits.max_memory >> 20
                )
            })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(flatten)
            .context("linking WASI")?;
        random::shadow_get_random_bytes(&mut linker)
            .map_err(flatten)
            .context("linking wasi:random")?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(flatten)
            .context("linking wasi:http")?;
        bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(flatten)
            .context("linking the jobhost imports")?;
        let ticker = EpochTicker::start(&engine).context("starting the epoch thread")?;
        let cache = match cache_dir {
            Some(dir) => Some(CompileCache::open(dir, &engine).with_context(|| {
                format!(
                    "cannot use the compiled cache in {} (choose another with --cache-dir, or --no-cache)",
                    dir.display()
                )
            })?),
            None => None,
        };
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                linker,
                kv,
                limits,
                slots: Semaphore::new(engine_limits.max_instances.max(1) as usize),
                idle_warm: AtomicUsize::new(0),
                warm_budget: engine_limits.warm_instances as usize,
                ready_count: AtomicUsize::new(0),
                cache,
                _ticker: ticker,
            }),
        })
    }

    /// The wasmtime engine (for tools and benchmarks).
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// Load and check one file: a component of the right world whose
    /// `describe()` answers sensibly.
    pub async fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = tokio::fs::read(path).await.map_err(|error| LoadError::Io {
            path: path.to_owned(),
            error,
        })?;
        self.load_bytes(path, &bytes).await
    }

    /// Load and check a component from memory; `path` names it in errors.
    pub async fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let path = path.to_owned();
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(LoadError::NotWasm { path });
        }
        // Bytes 4..8: version and layer; layer 1 is a component.
        if bytes[6..8] == [0, 0] {
            return Err(LoadError::CoreModule { path });
        }
        let started = std::time::Instant::now();
        let engine = self.shared.engine.clone();
        let cache = self.shared.cache.clone();
        let owned = bytes.to_vec();
        let name = path.clone();
        // Compiling a large component takes seconds of CPU: keep it off the
        // async worker threads.
        let (component, source) = tokio::task::spawn_blocking(move || match cache {
            Some(cache) => cache.load_or_compile(&engine, &owned, &name),
            None => Component::new(&engine, &owned).map(|c| (c, Source::Compiled)),
        })
        .await
        .map_err(|e| LoadError::Compile {
            path: path.clone(),
            message: e.to_string(),
        })?
        .map_err(|e| LoadError::Compile {
            path: path.clone(),
            message: format!("{e:#}"),
        })?;
        let load_time = started.elapsed();
        check_imports(&self.shared.engine, &component, &path)?;
        let prints = imports_stderr(&self.shared.engine, &component);
        let instance_pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld {
                path: path.clone(),
                message: format!("{e:#}"),
            })?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::WrongWorld {
            path: path.clone(),
            message: format!("{e:#}"),
        })?;
        let info = self.describe(&pre, &path, prints).await?;
        let limits = &self.shared.limits;
        let requested = info.limits.clone().unwrap_or_default();
        let timeout = requested
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(limits.default_timeout)
            .min(limits.max_timeout);
        // A plugin may ask for less memory than the operator's cap, never more.
        let memory = requested
            .memory_bytes
            .unwrap_or(limits.default_memory)
            .min(limits.default_memory);
        let allowed_outbound = limits.outbound.for_plugin(&info.name);
        let info_name_for_reuse = info.name.clone();
        Ok(Plugin {
            shared: self.shared.clone(),
            pre,
            name: Arc::from(info.name.as_str()),
            info,
            path,
            timeout,
            memory,
            source,
            load_time,
            allowed_outbound,
            reuse: limits.reuse.get(&info_name_for_reuse).copied().unwrap_or(0),
            prints,
            warm: std::sync::Mutex::new(Vec::new()),
            ready: std::sync::Mutex::new(None),
            preparing: AtomicBool::new(false),
            spare: std::sync::Mutex::new(Vec::new()),
        })
    }

    async fn describe(
        &self,
        pre: &PluginPre<HostState>,
        path: &Path,
        prints: bool,
    ) -> Result<PluginInfo, LoadError> {
        let describe_error = |message: String| LoadError::Describe {
            path: path.to_owned(),
            message,
        };
        let name: Arc<str> = Arc::from(
            path.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("plugin"),
        );
        let mut store = self.store(
            name,
            "describe".into(),
            self.shared.limits.default_memory,
            self.shared.limits.default_timeout,
        );
        let _slot = self
            .shared
            .slots
            .acquire()
            .await
            .map_err(|e| describe_error(e.to_string()))?;
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| describe_error(format!("instantiating: {e:#}")))?;
        let raw = instance.call_describe(&mut store).await.map_err(|e| {
            describe_error(trap_message(
                &e,
                &store,
                self.shared.limits.default_timeout,
                self.shared.limits.fuel,
                prints,
            ))
        })?;
        if !valid_plugin_name(&raw.name) {
            return Err(describe_error(format!(
                "invalid plugin name `{}`: use 1 to 64 lower-case letters, digits and `-`",
                raw.name
            )));
        }
        Ok(PluginInfo {
            name: raw.name,
            version: raw.version,
            description: raw.description,
            url_patterns: raw.url_patterns,
            content_types: raw.content_types,
            limits: raw.limits.map(|l| RequestedLimits {
                timeout_ms: l.timeout_ms,
                memory_bytes: l.memory_bytes,
            }),
        })
    }

    fn store(
        &self,
        plugin: Arc<str>,
        task_id: String,
        memory: u64,
        timeout: Duration,
    ) -> Store<HostState> {
        // describe() gets no outbound access at all.
        make_store(
            &self.shared,
            plugin,
            task_id,
            memory,
            timeout,
            Arc::from([]),
        )
    }
}

fn make_store(
    shared: &Shared,
    plugin: Arc<str>,
    task_id: String,
    memory: u64,
    timeout: Duration,
    allowed_outbound: Arc<[String]>,
) -> Store<HostState> {
    let limiter = JobLimiter::new(memory as usize);
    let state = HostState::new(
        plugin,
        task_id,
        shared.kv.clone(),
        limiter,
        Instant::now() + timeout,
        allowed_outbound,
    );
    store_with(shared, state)
}

/// A store around `state`, with the engine's per-call limits set.
fn store_with(shared: &Shared, state: HostState) -> Store<HostState> {
    let mut store = Store::new(&shared.engine, state);
    store.limiter(|state| &mut state.limiter);
    if let Some(fuel) = shared.limits.fuel {
        // Only fails when the engine does not count fuel, which
        // `Runtime::new` rules out.
        let _ = store.set_fuel(fuel);
    }
    // Check the deadline at every epoch tick; yield to the executor in
    // between so that a long call never blocks other jobs on this thread.
    // tokio's `yield_now`, not wasmtime's plain `Yield`: it lets the
    // runtime poll its timers and sockets before the call goes on. A plain
    // re-wake does not, and on a shard's single-threaded runtime a busy
    // plugin then delayed the queue's lease heartbeats past the lease.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline {
            Err(wasmtime::Error::msg("deadline exceeded"))
        } else {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
    store
}

/// Interfaces a plugin may import: ours, and the WASI interfaces that guest
/// standard libraries import (served by an empty, capability-free context).
const PROVIDED_IMPORTS: &[&str] = &[
    "jobhost:plugin/",
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "wasi:http/",
];

/// Name the first import jobhost does not provide, before wasmtime's linker
/// (which reports type mismatches of the ones it does) gets to it.
fn check_imports(engine: &Engine, component: &Component, path: &Path) -> Result<(), LoadError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        if !PROVIDED_IMPORTS
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            return Err(LoadError::WrongWorld {
                path: path.to_owned(),
                message: format!(
                    "it imports `{name}`, which jobhost does not provide; plugins get the \
                     jobhost:plugin log and kv interfaces and WASI cli, io, clocks, random, \
                     http (to allowed hosts only), and filesystem and sockets with nothing in them"
                ),
            });
        }
    }
    Ok(())
}

/// Wasmtime's own error type does not convert into `anyhow`; keep its chain
/// as text.
fn flatten(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

/// Whether `component` imports `wasi:cli/stderr`. One that does not (a
/// ComponentizeJS build with `--disable stdio`, a Rust build without WASI)
/// has nowhere to print a panic message or an uncaught exception: ComponentizeJS
/// turns its writes into no-ops inside the component.
fn imports_stderr(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .imports(engine)
        .any(|(name, _)| name.starts_with("wasi:cli/stderr@"))
}

/// A trap's message, naming the limit it broke if any, with what the guest
/// printed appended: a Rust panic message, the traceback componentize-py
/// prints for an uncaught Python exception, the report ComponentizeJS prints
/// for an uncaught JavaScript one. `prints` is [`imports_stderr`].
fn trap_message(
    error: &wasmtime::Error,
    store: &Store<HostState>,
    timeout: Duration,
    fuel: Option<u64>,
    prints: bool,
) -> String {
    let mut message = describe_trap(
        error,
        timeout,
        fuel,
        store.data().limiter.refused.as_deref(),
    );
    // Panics, aborts and uncaught exceptions all end in `unreachable`.
    let unreachable = matches!(
        error.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::UnreachableCodeReached)
    );
    append_output(
        &mut message,
        &store.data().guest_output(),
        unreachable && !prints,
    );
    message
}

/// Most bytes of guest output a trap message carries: the end of it, where
/// the runtimes print the reason they trapped.
const TRAP_OUTPUT_BYTES: usize = 1024;

/// Append the last [`TRAP_OUTPUT_BYTES`] of `output` to a trap message, or,
/// for a `mute_abort` (an `unreachable` trap in a plugin that cannot print),
/// say why there is none.
fn append_output(message: &mut String, output: &str, mute_abort: bool) {
    if output.is_empty() {
        if mute_abort {
            message.push_str(
                "; the plugin cannot print (it imports no wasi:cli/stderr), so the message of \
                 a panic or an uncaught exception is lost: build it with stdio (ComponentizeJS: \
                 without `--disable stdio`; Rust: for wasm32-wasip2)",
            );
        }
        return;
    }
    let mut start = output.len().saturating_sub(TRAP_OUTPUT_BYTES);
    while !output.is_char_boundary(start) {
        start += 1;
    }
    message.push_str("; plugin output: ");
    message.push_str(&output[start..]);
}

impl Plugin {
    /// The `describe()` answer.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The routing name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A warm instance for this job, reset, if reuse is on and one is idle;
    /// else the fresh instance made ahead, if there is one.
    fn take_warm(&self, task: &Task) -> Option<(Store<HostState>, bindings::Plugin, u32)> {
        let warm = if self.reuse < 2 {
            let ready = self
                .ready
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()?;
            self.shared.ready_count.fetch_sub(1, Ordering::Relaxed);
            ready
        } else {
            // The instance this thread ran last, if one is idle: its memory
            // is still in this core's caches. Else the last one put back.
            let mut idle = self.warm.lock().unwrap_or_else(|p| p.into_inner());
            let here = std::thread::current().id();
            let index = idle
                .iter()
                .rposition(|warm| warm.thread == here)
                .or_else(|| idle.len().checked_sub(1))?;
            let warm = idle.remove(index);
            drop(idle);
            self.shared.idle_warm.fetch_sub(1, Ordering::Relaxed);
            warm
        };
        let Warm {
            mut store,
            instance,
            uses,
            thread: _,
        } = warm;
        let data = store.data_mut();
        data.task_id.clone_from(&task.id);
        data.deadline = Instant::now() + self.timeout;
        data.output.clear();
        data.limiter.refused = None;
        if let Some(fuel) = self.shared.limits.fuel {
            let _ = store.set_fuel(fuel);
        }
        store.set_epoch_deadline(1);
        Some((store, instance, uses))
    }

    /// A new store for the task `task_id`, around recycled store data if
    /// there is some.
    fn fresh_store(&self, task_id: &str) -> Store<HostState> {
        let shared = &self.shared;
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match spare {
            Some(mut state) => {
                state.recycle(
                    task_id,
                    Instant::now() + self.timeout,
                    JobLimiter::new(self.memory as usize),
                );
                store_with(shared, state)
            }
            None => make_store(
                shared,
                self.name.clone(),
                task_id.to_owned(),
                self.memory,
                self.timeout,
                self.allowed_outbound.clone(),
            ),
        }
    }

    /// Keep the store data of a job that ended without a trap.
    fn put_spare(&self, state: HostState) {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_STATES {
            spare.push(state);
        }
    }

    /// Keep a healthy instance for the next job, within the reuse count and
    /// the engine's budget of idle instances.
    fn put_warm(&self, store: Store<HostState>, instance: bindings::Plugin, uses: u32) {
        if self.reuse < 2 || uses >= self.reuse {
            return;
        }
        let budget = self.shared.warm_budget;
        if self.shared.idle_warm.fetch_add(1, Ordering::Relaxed) >= budget {
            self.shared.idle_warm.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.warm
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Warm {
                store,
                instance,
                uses,
                thread: std::thread::current().id(),
            });
    }

    /// Make a fresh instance for this plugin's next job now, in the
    /// background on the caller's runtime, unless one is ready or being
    /// made, or [`READY_INSTANCES`] are (all plugins together). The worker
    /// calls it once a job is handed to the acknowledger, so an idle host
    /// has the instance ready when the next job arrives, and the job starts
    /// without paying for instantiation (its latency). Under load the next
    /// job takes it at once: one instantiation per job either way. Each
    /// instance still serves one job; with `--reuse-instances` this does
    /// nothing, and so it does outside a tokio runtime.
    pub fn prepare(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.reuse >= 2 || self.preparing.swap(true, Ordering::Acquire) {
            return;
        }
        let shared = &self.shared;
        if self.has_ready_instance() {
            self.preparing.store(false, Ordering::Release);
            return;
        }
        // Take one of the engine-wide places, if one is free.
        if shared.ready_count.fetch_add(1, Ordering::Relaxed) >= READY_INSTANCES {
            shared.ready_count.fetch_sub(1, Ordering::Relaxed);
            self.preparing.store(false, Ordering::Release);
            return;
        }
        let plugin = self.clone();
        runtime.spawn(async move {
            let mut store = plugin.fresh_store("");
            let timer = crate::metrics::instantiating();
            let made = plugin.pre.instantiate_async(&mut store).await;
            crate::metrics::instantiated(plugin.name(), timer);
            match made {
                Ok(instance) => {
                    let old = plugin
                        .ready
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .replace(Warm {
                            store,
                            instance,
                            uses: 0,
                            thread: std::thread::current().id(),
                        });
                    if old.is_some() {
                        plugin.shared.ready_count.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(error) => {
                    // The job that comes next instantiates its own and
                    // reports the error if it persists.
                    tracing::debug!(plugin = %plugin.name, "making an instance ahead failed: {error:#}");
                    plugin.shared.ready_count.fetch_sub(1, Ordering::Relaxed);
                }
            }
            plugin.preparing.store(false, Ordering::Release);
        });
    }

    /// Whether a fresh instance made ahead is waiting for the next job.
    pub fn has_ready_instance(&self) -> bool {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Jobs one instance serves before it is replaced (below 2: a fresh
    /// instance per job).
    pub fn reuse(&self) -> u32 {
        self.reuse
    }

    /// The deadline each call gets.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How it was loaded, for logs: `compiled in 45ms`, `from the compiled
    /// cache in 2ms`.
    pub fn load_note(&self) -> String {
        let time = self.load_time;
        match self.source {
            Source::Compiled => format!("compiled in {time:.0?}"),
            Source::Cached => format!("from the compiled cache in {time:.1?}"),
            Source::Recompiled => format!("recompiled in {time:.0?}, replacing a bad cache entry"),
        }
    }

    /// Run `handle` for one job on a fresh instance. A successful job
    /// comes back with the key-value writes it left pending, for the caller
    /// to apply with its acknowledgement; a failed job's writes are dropped.
    pub async fn handle(&self, task: &Task, content: Fetched) -> Result<Handled, CallError> {
        let shared = &self.shared;
        let _slot = shared
            .slots
            .acquire()
            .await
            .map_err(|e| CallError::Instantiate(e.to_string()))?;
        let (mut store, instance, uses) = match self.take_warm(task) {
            Some(warm) => warm,
            None => {
                let mut store = self.fresh_store(&task.id);
                let timer = crate::metrics::instantiating();
                let made = self.pre.instantiate_async(&mut store).await;
                crate::metrics::instantiated(self.name(), timer);
                let instance = made.map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
                (store, instance, 0)
            }
        };
        // The WIT types own their strings, so the task's fields are copied
        // once here (a few short strings); the body is moved, not copied.
        let wit_task = WitTask {
            id: task.id.clone(),
            url: task.url.clone(),
            attempt: task.attempt,
            metadata: task.metadata.clone(),
            enqueued_at: task.enqueued_at,
        };
        let wit_content = bindings::Content {
            status: content.status,
            final_url: content.final_url,
            headers: content.headers,
            content_type: content.content_type,
            body: content.body,
        };
        let result = instance
            .call_handle(&mut store, &wit_task, &wit_content)
            .await
            .map_err(|e| {
                // A trapped instance is never reused.
                CallError::Trap(trap_message(
                    &e,
                    &store,
                    self.timeout,
                    shared.limits.fuel,
                    self.prints,
                ))
            })?;
        let writes = store.data_mut().writes.take();
        if self.reuse < 2 {
            // A fresh instance serves one job: dropping the store frees its
            // slot; the store data is kept for the next job.
            let _ = instance;
            self.put_spare(store.into_data());
        } else {
            self.put_warm(store, instance, uses + 1);
        }
        match result {
            Ok(outcome) => {
                check_outcome(&outcome, &shared.limits.output).map_err(CallError::Limit)?;
                Ok(Handled { outcome, writes })
            }
            Err(bindings::HandleError::Fail(message)) => Err(CallError::Fail(message)),
            Err(bindings::HandleError::Retry(retry)) => Err(CallError::Retry {
                message: retry.message,
                delay: retry.delay_ms.map(Duration::from_millis),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_without_stderr_is_told_apart() {
        let engine = Engine::default();
        let component = |wat: &str| Component::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let with = component(r#"(component (import "wasi:cli/stderr@0.2.6" (instance)))"#);
        let without = component(r#"(component (import "wasi:cli/stdout@0.2.6" (instance)))"#);
        assert!(imports_stderr(&engine, &with));
        assert!(!imports_stderr(&engine, &without));
    }

    #[test]
    fn a_trap_message_carries_the_end_of_the_output_or_says_why_there_is_none() {
        let mut message = "wasm trap".to_owned();
        append_output(&mut message, "Traceback …\nValueError: boom", false);
        assert_eq!(
            message,
            "wasm trap; plugin output: Traceback …\nValueError: boom"
        );

        // Long output: its last TRAP_OUTPUT_BYTES, cut on a character boundary.
        let output = format!("{}ValueError: boom", "é".repeat(1000));
        let mut message = String::new();
        append_output(&mut message, &output, false);
        let kept = message.strip_prefix("; plugin output: ").unwrap();
        assert!(kept.len() <= TRAP_OUTPUT_BYTES && kept.len() >= TRAP_OUTPUT_BYTES - 1);
        assert!(kept.ends_with("ValueError: boom"));

        let mut message = "wasm trap".to_owned();
        append_output(&mut message, "", false);
        assert_eq!(message, "wasm trap");
        append_output(&mut message, "", true);
        assert!(message.contains("cannot print"), "{message}");
        assert!(message.contains("--disable stdio"), "{message}");
    }
}
