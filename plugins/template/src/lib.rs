//! The template plugin: the smallest useful jobhost plugin, written to be
//! copied. It owns nothing but an example of every moving part; it claims no
//! URLs or media types, so it only runs when a task names it (`"plugin":
//! "template"` in a task, or `--plugin template`).
//!
//! To start a new plugin: copy this folder to `plugins/<your-name>/`, rename
//! the package in `Cargo.toml`, add it to the workspace members and to
//! `plugins/build.sh`, then change `describe` and `handle` below.
//!
//! The contract is `wit/plugin.wit`; read it alongside this file.

// `generate!` reads the WIT package and writes the Rust bindings for the
// `plugin` world: the types (`Task`, `Content`, `Outcome`, ...), the imports
// the host provides (`jobhost::plugin::log` and `jobhost::plugin::kv`) and a
// `Guest` trait with one method per export (`describe` and `handle`).
wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use jobhost::plugin::log::{self, Level};
// `Task`, `Content`, `Outcome`, `HandleError` and `PluginInfo` come from the
// world itself; the other types live in the `types` interface.
use jobhost::plugin::types::SinkRecord;
use serde::Serialize;

/// The plugin itself. It has no fields: the host makes a fresh instance for
/// every job, so nothing kept in memory survives from one job to the next.
/// State that must outlive a job goes into the key-value store (see `handle`).
struct Template;

/// The record this plugin writes: one per job. Deriving `Serialize` on a
/// struct fixes the key order of the JSON output to the field order here.
#[derive(Serialize)]
struct Summary<'a> {
    url: &'a str,
    status: u16,
    content_type: Option<&'a str>,
    bytes: usize,
}

impl Guest for Template {
    /// Called once when the host loads the plugin: who we are and what we
    /// claim. `url-patterns` (e.g. `https://example.com/items/*`) and
    /// `content-types` (e.g. `text/html`) route tasks that do not name a
    /// plugin; both empty means "only when asked by name". `limits: None`
    /// takes the host's default timeout and memory limit.
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "template".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Minimal example plugin: one summary record per job".to_string(),
            url_patterns: Vec::new(),
            content_types: Vec::new(),
            limits: None,
        }
    }

    /// Called once per job with the task (URL, attempt, metadata) and what
    /// the host fetched for it (status, headers, body). Return:
    ///
    /// - `Ok(Outcome { records, follow_ups })`: records go to the sink in
    ///   order; follow-ups are new tasks (absolute URLs) enqueued once this
    ///   job is acknowledged.
    /// - `Err(HandleError::Retry(..))`: a transient problem; the host tries
    ///   again later (optionally after `delay_ms`), then dead-letters.
    /// - `Err(HandleError::Fail(message))`: a permanent problem; the job goes
    ///   straight to the dead letters. Name the field or URL at fault.
    ///
    /// A panic aborts the instance (a trap): the job goes straight to the dead
    /// letters with the panic message, and is never retried. Return `Err` instead,
    /// and never `unwrap()` anything that came from the task or the content.
    fn handle(task: Task, content: Content) -> Result<Outcome, HandleError> {
        // Logging goes through the host, which tags the line with the plugin
        // name and the task id.
        log::log(
            Level::Debug,
            &format!("{} bytes from {}", content.body.len(), task.url),
        );

        let summary = Summary {
            url: &task.url,
            status: content.status,
            content_type: content.content_type.as_deref(),
            bytes: content.body.len(),
        };
        // Serialising a plain struct cannot fail, but guest code never
        // unwraps: turn the impossible into a clear permanent failure.
        let data = serde_json::to_vec(&summary)
            .map_err(|error| HandleError::Fail(format!("cannot encode the record: {error}")))?;

        // State that outlives the job goes into the key-value store, which
        // is private to this plugin. Every call returns `Result<_, String>`;
        // a failure is usually transient, so it becomes a retry:
        //
        //     use jobhost::plugin::kv;
        //     use jobhost::plugin::types::RetryError;
        //     kv::add("pages-seen", 1).map_err(|message| {
        //         HandleError::Retry(RetryError { message, delay_ms: None })
        //     })?;
        //
        // (`kv::get`, `kv::set`, `kv::delete` and `kv::increment` work the
        // same way.) `set`, `delete` and `add` are applied when the job is
        // acknowledged, and dropped if it fails; `increment`, which returns
        // the new value, reaches the store at once.

        Ok(Outcome {
            // Each record becomes one line of the host's output. With
            // `application/json` it is embedded as JSON; other media types
            // are embedded as text or base64.
            records: vec![SinkRecord {
                content_type: "application/json".to_string(),
                data,
            }],
            // Follow-ups are new tasks, e.g. links a crawler found:
            //
            //     FollowUp {
            //         url: "https://example.com/next".to_string(),
            //         plugin: None, // routed by URL pattern or content type
            //         metadata: vec![("parent".to_string(), task.url.clone())],
            //     }
            follow_ups: Vec::new(),
        })
    }
}

// Tell the bindings which type implements the `Guest` trait.
export!(Template);
