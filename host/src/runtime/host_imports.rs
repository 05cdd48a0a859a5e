//! What a plugin instance can reach: the per-job store data and the host
//! side of the `log` and `kv` imports.
//!
//! WASI is linked because guest toolchains import it (their standard
//! libraries print, read clocks and ask for randomness), but the context is
//! empty: no preopened directories, no environment, no arguments, no sockets
//! or name lookups. Clocks and randomness work. `wasi:http` is linked too,
//! but every request is checked against the plugin's outbound allowlist
//! (`outbound.rs`), which is empty unless an operator fills it. What the guest prints goes
//! into a bounded in-memory pipe, shown in the job's error when it traps.

use std::sync::Arc;

use tokio::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::jobhost::plugin::{kv, log, types};
use super::guest_output::GuestOutput;
use super::limits::JobLimiter;
use super::outbound::Outbound;
use crate::kv::writes::{add_to, Seen};
use crate::kv::{namespaced, own_key, AnyKv, KvError, KvStore, KvWrite, PendingWrites};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Longest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Longest log line kept, in bytes; longer ones are cut.
pub const MAX_LOG_BYTES: usize = 4096;

/// Everything one instance's store holds. A new one is made for every job.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: JobLimiter,
    pub(crate) plugin: Arc<str>,
    pub(crate) task_id: String,
    pub(crate) deadline: Instant,
    pub(crate) output: GuestOutput,
    kv: Arc<AnyKv>,
    /// The job's key-value writes, applied with its acknowledgement.
    pub(crate) writes: PendingWrites,
    http: WasiHttpCtx,
    outbound: Outbound,
    /// Serves `get-random-bytes` (`random.rs`).
    pub(crate) random: rand::rngs::StdRng,
}

impl HostState {
    /// Store data for one call of `plugin` on `task_id`.
    pub(crate) fn new(
        plugin: Arc<str>,
        task_id: String,
        kv: Arc<AnyKv>,
        limiter: JobLimiter,
        deadline: Instant,
        allowed_outbound: Arc<[String]>,
    ) -> Self {
        let output = GuestOutput::new();
        let plugin_for_hooks = plugin.clone();
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter,
            plugin,
            task_id,
            deadline,
            output,
            kv,
            writes: PendingWrites::default(),
            http: WasiHttpCtx::new(),
            outbound: Outbound {
                plugin: plugin_for_hooks,
                allowed: allowed_outbound,
            },
            random: super::random::new_generator(),
        }
    }

    /// Make a used state ready for the next job of the same plugin: a new
    /// task, deadline and limiter, no output, an empty resource table. The
    /// WASI context carries nothing from one job to the next but its random
    /// number generators' state (no files, environment or sockets).
    pub(crate) fn recycle(&mut self, task_id: &str, deadline: Instant, limiter: JobLimiter) {
        self.task_id.clear();
        self.task_id.push_str(task_id);
        self.deadline = deadline;
        self.limiter = limiter;
        self.output.clear();
        self.writes.clear();
        self.table = ResourceTable::new();
    }

    /// What the guest printed so far, lossily decoded, trimmed.
    pub(crate) fn guest_output(&self) -> String {
        self.output.text()
    }

    fn key(&self, key: &str) -> Result<String, String> {
        if key.is_empty() {
            return Err("key must not be empty".into());
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(format!(
                "key of {} bytes is longer than the limit of {MAX_KEY_BYTES}",
                key.len()
            ));
        }
        Ok(namespaced(&self.plugin, key))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, mut message: String) {
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin: &str = &self.plugin;
        let task = self.task_id.as_str();
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "plugin", plugin = %plugin, task = %task, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "plugin", plugin = %plugin, task = %task, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "plugin", plugin = %plugin, task = %task, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "plugin", plugin = %plugin, task = %task, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "plugin", plugin = %plugin, task = %task, "{message}")
            }
        }
    }
}

/// A key-value error as the plugin reads it.
fn text(error: KvError) -> String {
    error.to_string()
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        let key = self.key(&key)?;
        match self.writes.seen(&key).map_err(text)? {
            Seen::Known(value) => Ok(value),
            Seen::Untouched => self.kv.get(&key).await.map_err(text),
            Seen::Plus(delta) => {
                let stored = self.kv.get(&key).await.map_err(text)?;
                let sum = add_to(stored.as_deref(), delta, &key).map_err(text)?;
                Ok(Some(sum.to_string().into_bytes()))
            }
        }
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        let key = self.key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "value of {} bytes is larger than the limit of {MAX_VALUE_BYTES}",
                value.len()
            ));
        }
        self.writes
            .push(KvWrite::Set { key, value })
            .map_err(|e| e.to_string())
    }

    async fn delete(&mut self, key: String) -> Result<bool, String> {
        let key = self.key(&key)?;
        let exists = match self.writes.seen(&key).map_err(text)? {
            Seen::Known(value) => value.is_some(),
            // An add creates the key.
            Seen::Plus(_) => true,
            Seen::Untouched => self.kv.get(&key).await.map_err(text)?.is_some(),
        };
        self.writes.push(KvWrite::Delete { key }).map_err(text)?;
        Ok(exists)
    }

    fn add(&mut self, key: String, delta: i64) -> Result<(), String> {
        let key = self.key(&key)?;
        // Refuse now what is bound to fail at the acknowledgement.
        match self.writes.seen(&key).map_err(text)? {
            Seen::Known(value) => {
                add_to(value.as_deref(), delta, &key).map_err(text)?;
            }
            Seen::Plus(pending) => {
                // Only the job's own part can be checked here.
                pending
                    .checked_add(delta)
                    .ok_or_else(|| KvError::Overflow {
                        key: own_key(&key).to_owned(),
                    })
                    .map_err(text)?;
            }
            Seen::Untouched => {}
        }
        self.writes.push(KvWrite::Add { key, delta }).map_err(text)
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, String> {
        let key = self.key(&key)?;
        // Immediate: this job's pending writes to the key go first.
        let earlier = self.writes.take_key(&key);
        if !earlier.is_empty() {
            for warning in self.kv.apply(earlier).await.map_err(text)? {
                tracing::warn!(plugin = %self.plugin, task = %self.task_id, "kv `{}`: {warning}", own_key(&key));
            }
        }
        self.kv.increment(&key, delta).await.map_err(text)
    }
}
