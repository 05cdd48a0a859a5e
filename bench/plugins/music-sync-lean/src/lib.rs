//! music-sync for benchmarks: the rules of `plugins/music-sync` (its
//! `track.rs` and `status.rs`, included as they are) with this crate's own
//! glue, built for `wasm32-unknown-unknown` (no WASI) with the bump
//! allocator in `heap.rs`. It answers to the same name, `music-sync`, and
//! makes the same records, kv writes and log line. Not an example to copy:
//! see README.md.

// The module names match the example's, so its files compile unchanged.
mod heap;
#[path = "../../../../plugins/music-sync/src/status.rs"]
mod status;
#[path = "../../../../plugins/music-sync/src/track.rs"]
mod track;

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use jobhost::plugin::kv;
use jobhost::plugin::log::{self, Level};
use jobhost::plugin::types::{RetryError, SinkRecord};
use status::Rejection;

const TRACK_COUNTER: &str = "stats:tracks";

struct MusicSync;

impl Guest for MusicSync {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "music-sync".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description:
                "Normalises music API track documents into JSON records and stores them in kv (lean build)"
                    .to_string(),
            url_patterns: vec!["*/tracks/*".to_string()],
            content_types: Vec::new(),
            limits: None,
        }
    }

    fn handle(_task: Task, content: Content) -> Result<Outcome, HandleError> {
        status::check(content.status, &content.headers, &content.final_url).map_err(
            |rejection| match rejection {
                Rejection::Retry { message, delay_ms } => {
                    HandleError::Retry(RetryError { message, delay_ms })
                }
                Rejection::Fail(message) => HandleError::Fail(message),
            },
        )?;
        let track = track::normalise(&content.body, &content.final_url)
            .map_err(|invalid| HandleError::Fail(invalid.to_string()))?;
        let data = serde_json::to_vec(&track).map_err(|error| {
            HandleError::Fail(format!("cannot encode the track record: {error}"))
        })?;
        let key = format!("music:{}", track.id);
        kv::set(&key, &data).map_err(|error| kv_retry("set", &key, error))?;
        kv::add(TRACK_COUNTER, 1).map_err(|error| kv_retry("add", TRACK_COUNTER, error))?;
        log::log(Level::Info, &format!("synced track {}", track.id));
        Ok(Outcome {
            records: vec![SinkRecord {
                content_type: "application/json".to_string(),
                data,
            }],
            follow_ups: Vec::new(),
        })
    }
}

fn kv_retry(operation: &str, key: &str, error: String) -> HandleError {
    HandleError::Retry(RetryError {
        message: format!("kv {operation} `{key}` failed: {error}"),
        delay_ms: None,
    })
}

export!(MusicSync);
