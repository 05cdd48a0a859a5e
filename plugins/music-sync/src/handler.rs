//! The handler: status check, normalisation, the kv writes and the record
//! of one track document, or the delete of a track the provider no longer
//! serves. Everything the plugin does per job is here; the rules themselves
//! are in `status.rs` and `track.rs`.

use serde::Serialize;

use crate::jobhost::plugin::kv;
use crate::jobhost::plugin::log::{self, Level};
use crate::jobhost::plugin::types::{RetryError, SinkRecord};
use crate::status::{self, Rejection, Verdict};
use crate::track;
use crate::{Content, Guest, HandleError, Outcome, PluginInfo, Task};

/// Key-value key counting every track synced.
const TRACK_COUNTER: &str = "stats:tracks";

/// The plugin.
pub struct MusicSync;

impl Guest for MusicSync {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "music-sync".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description:
                "Normalises music API track documents into JSON records and stores them in kv"
                    .to_string(),
            url_patterns: vec!["*/tracks/*".to_string()],
            content_types: Vec::new(),
            limits: None,
        }
    }

    fn handle(task: Task, content: Content) -> Result<Outcome, HandleError> {
        let verdict = status::check(
            content.status,
            &content.headers,
            &task.url,
            &content.final_url,
        )
        .map_err(|rejection| match rejection {
            Rejection::Retry { message, delay_ms } => {
                HandleError::Retry(RetryError { message, delay_ms })
            }
            Rejection::Fail(message) => HandleError::Fail(message),
        })?;
        if let Verdict::Gone { status, id } = verdict {
            return gone(status, id);
        }

        let track = track::normalise(&content.body, &content.final_url)
            .map_err(|invalid| HandleError::Fail(invalid.to_string()))?;
        let data = serde_json::to_vec(&track).map_err(|error| {
            HandleError::Fail(format!("cannot encode the track record: {error}"))
        })?;

        let key = format!("music:{}", track.id);
        kv::set(&key, &data).map_err(|error| kv_retry("set", &key, error))?;
        // `add`, not `increment`: the count needs no answer, so it costs no
        // round trip, and it counts each synced track once even when a job
        // is retried.
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

/// The key columns of a track's row, the data of a delete record.
#[derive(Serialize)]
struct RowKey<'a> {
    id: &'a str,
}

/// The provider no longer serves track `id` (HTTP `code`, 404 or 410):
/// forget it in kv (the mirror of the `set` above; the counter stays, since
/// it counts syncs) and ask the sink to delete its row.
fn gone(code: u16, id: &str) -> Result<Outcome, HandleError> {
    let data = serde_json::to_vec(&RowKey { id })
        .map_err(|error| HandleError::Fail(format!("cannot encode the delete record: {error}")))?;
    let key = format!("music:{id}");
    kv::delete(&key).map_err(|error| kv_retry("delete", &key, error))?;

    log::log(
        Level::Info,
        &format!("track {id} gone (HTTP {code}): asked for its row to be deleted"),
    );
    Ok(Outcome {
        records: vec![SinkRecord {
            content_type: status::DELETE_CONTENT_TYPE.to_string(),
            data,
        }],
        follow_ups: Vec::new(),
    })
}

/// A key-value failure is transient as far as this plugin knows: retry.
fn kv_retry(operation: &str, key: &str, error: String) -> HandleError {
    HandleError::Retry(RetryError {
        message: format!("kv {operation} `{key}` failed: {error}"),
        delay_ms: None,
    })
}
