//! music-sync, the reference plugin: turns a music API's track document
//! (`*/tracks/*`) into one normalised JSON record, stores the same bytes in
//! the key-value store under `music:<id>` and counts tracks in
//! `stats:tracks` (both writes are applied with the job's acknowledgement).
//! This file owns only the glue between the WIT bindings and the pure
//! modules; it must stay deterministic (no clock, no randomness).
//!
//! Modules:
//! - `status`: which HTTP statuses proceed, retry or fail.
//! - `track`: parsing, validation and normalisation of the document; the
//!   rules that the ports to other languages follow.

mod status;
mod track;

wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use jobhost::plugin::kv;
use jobhost::plugin::log::{self, Level};
use jobhost::plugin::types::{RetryError, SinkRecord};
use status::Rejection;

/// Key-value key counting every track synced.
const TRACK_COUNTER: &str = "stats:tracks";

struct MusicSync;

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

/// A key-value failure is transient as far as this plugin knows: retry.
fn kv_retry(operation: &str, key: &str, error: String) -> HandleError {
    HandleError::Retry(RetryError {
        message: format!("kv {operation} `{key}` failed: {error}"),
        delay_ms: None,
    })
}

export!(MusicSync);

/// The sample data in `samples/` must agree with the rules: every task's
/// payload equals its file, and the valid ones normalise to `expected.jsonl`.
#[cfg(test)]
mod samples {
    use serde_json::Value;
    use std::path::Path;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn samples_match_expected_records() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let tasks = read(&dir.join("tasks.jsonl"));
        let expected = read(&dir.join("expected.jsonl"));
        let mut expected = expected.lines();
        let mut failures = Vec::new();
        for line in tasks.lines() {
            let task: Value = serde_json::from_str(line).expect("task is JSON");
            let url = task["url"].as_str().expect("task url");
            let id = url.rsplit('/').next().expect("id in url");
            let file: Value = serde_json::from_str(&read(&dir.join(format!("tracks/{id}.json"))))
                .expect("file is JSON");
            assert_eq!(
                task["payload"], file,
                "payload of {url} differs from tracks/{id}.json"
            );

            let body = serde_json::to_vec(&task["payload"]).expect("payload encodes");
            match super::track::normalise(&body, url) {
                Ok(track) => {
                    let record = serde_json::to_string(&track).expect("record encodes");
                    assert_eq!(Some(record.as_str()), expected.next(), "record for {url}");
                }
                Err(invalid) => failures.push((id.to_string(), invalid.to_string())),
            }
        }
        assert_eq!(
            expected.next(),
            None,
            "expected.jsonl has more lines than valid tasks"
        );
        assert_eq!(
            failures,
            vec![("1999".to_string(), "title: missing".to_string())]
        );
    }
}
