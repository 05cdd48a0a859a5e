//! jobhost: a job host that pulls tasks from a queue, fetches the content each
//! task points to, and hands it to a sandboxed WebAssembly component (a
//! plugin) that decides how it is processed.
//!
//! Module map (one concern each):
//! - [`cli`]: command-line flags and their validation into typed configs.
//! - [`commands`]: `plugins`, `enqueue`, `dead`, `stats`, `schedule`, `new`.
//! - [`scaffold`]: the plugin projects `jobhost new` writes.
//! - [`run`]: batch mode, from input lines to a summary.
//! - [`worker`]: the per-job loop: take a delivery, fetch, route, run.
//! - [`commit`]: one path for a job's effects: records, key-value writes,
//!   follow-ups, then the ack, or the retry, deferral or burial.
//! - [`shards`]: the workers split over threads, one single-threaded runtime each.
//! - [`queue`]: the [`queue::Queue`] trait and its backends (memory, Redis).
//! - [`redis`]: the one Redis layer (connection, keys, outages) that the
//!   queue, kv and politeness use, each with its own scripts.
//! - [`task`]: the task model and the input line formats.
//! - [`fetch`]: HTTP(S) and `file://` fetching with limits.
//! - [`dashboard`]: `jobhost dashboard`, a web page over a Redis queue.
//! - [`metrics`]: Prometheus metrics at `--metrics-addr`.
//! - [`progress`]: the live progress line of a run on a terminal.
//! - [`politeness`]: per URL host rate and concurrency limits, hold-backs.
//! - [`runtime`]: wasmtime engine, plugin loading, one instance per job.
//! - [`registry`]: the plugins folder, loaded and indexed by name.
//! - [`reload`]: hot reload of the plugins folder.
//! - [`routing`]: which plugin handles a task.
//! - [`kv`]: the key-value store behind the plugins' `kv` import.
//! - [`sink`]: where records go (JSON Lines, the queue's stream, a database).
//! - [`db`]: the database sink: PostgreSQL, MySQL/MariaDB, SQLite; batched,
//!   idempotent upserts and deletes, committed before the acknowledgement.
//! - [`record`]: the record type plugins' output becomes.
//! - [`schedule`]: schedules that fire rounds of tasks once per tick across
//!   hosts, produced in resumable chunks.
#![deny(missing_docs)]

pub mod cli;
pub mod commands;
pub mod commit;
pub mod dashboard;
pub mod db;
pub mod fetch;
pub mod kv;
pub mod metrics;
pub mod politeness;
pub mod progress;
pub mod queue;
pub mod record;
pub mod redis;
pub mod registry;
pub mod reload;
pub mod routing;
pub mod run;
pub mod runtime;
pub mod scaffold;
pub mod schedule;
pub mod shards;
pub mod sink;
pub mod task;
pub mod worker;
