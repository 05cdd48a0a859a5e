//! music-sync, the reference plugin: turns a music API's track document
//! (`*/tracks/*`) into one normalised JSON record, stores the same bytes in
//! the key-value store under `music:<id>` and counts tracks in
//! `stats:tracks` (both writes are applied with the job's acknowledgement).
//! When the provider answers 404 or 410 (the track's licence ended), it
//! deletes `music:<id>` instead and emits one record that asks the sink to
//! delete the track's row (`application/json; op=delete`, `{"id":"<id>"}`).
//! This file owns only the bindings and the export; the plugin must stay
//! deterministic (no clock, no randomness).
//!
//! Modules:
//! - `handler`: what the plugin does with one job.
//! - `status`: which HTTP statuses proceed, ask for a delete, retry or
//!   fail; which track id a URL names.
//! - `track`: parsing, validation and normalisation of the document; the
//!   rules that the ports to other languages follow.

mod handler;
mod status;
mod track;

wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use handler::MusicSync;

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
