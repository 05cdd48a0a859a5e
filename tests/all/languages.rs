//! music-sync in every guest language: the JavaScript, Python and C ports,
//! built from source by plugins/build.sh, produce the same records as the
//! Rust plugin on the shared inputs (the samples and the edge cases in
//! plugins/music-sync/samples/), and fail the same documents for the same
//! reason on the same field. Error messages read `<field>: <reason>` or
//! `<field>: <reason>: <detail>` (plugins/music-sync/src/track.rs); the
//! detail is each language's own.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::*;

/// The reasons an error may give, as track.rs lists them.
const REASONS: [&str; 8] = [
    "not JSON",
    "not an object",
    "missing",
    "wrong type",
    "empty",
    "bad format",
    "not an integer",
    "out of range",
];

/// What became of one task.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The record, as JSON text.
    Record(String),
    /// A dead letter: the field and the reason of its error.
    Error { field: String, reason: String },
    /// A dead letter whose error does not read `<field>: <reason>[: <detail>]`.
    Unreadable(String),
}

/// The field and the reason of a plugin's error message.
fn parse_error(plugin: &str, error: &str) -> Outcome {
    let message = error
        .strip_prefix(&format!("plugin {plugin} failed: "))
        .unwrap_or(error);
    let mut parts = message.splitn(3, ": ");
    match (parts.next(), parts.next()) {
        (Some(field), Some(reason)) if REASONS.contains(&reason) => Outcome::Error {
            field: field.to_owned(),
            reason: reason.to_owned(),
        },
        _ => Outcome::Unreadable(error.to_owned()),
    }
}

/// Task id → what became of it.
fn outcomes(plugin: &str, input: &std::path::Path) -> BTreeMap<String, Outcome> {
    let plugins = PluginDir::with(&[plugin]);
    let dead = plugins.path().join("dead.jsonl");
    let run = run(jobhost()
        .args(["run", "--concurrency", "2", "--plugin", plugin, "--input"])
        .arg(input)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead));
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    assert!(run.stderr.contains("invalid input 0"), "{run:?}");
    let mut out = BTreeMap::new();
    for line in run.records() {
        let id = line["task_id"].as_str().unwrap().to_owned();
        assert_eq!(line["plugin"], plugin);
        out.insert(id, Outcome::Record(line["record"].to_string()));
    }
    for line in std::fs::read_to_string(&dead).unwrap_or_default().lines() {
        let letter: Value = serde_json::from_str(line).unwrap();
        let id = letter["id"].as_str().unwrap().to_owned();
        out.insert(id, parse_error(plugin, letter["error"].as_str().unwrap()));
    }
    out
}

/// The sample tasks with ids, so that outcomes can be matched by id.
fn shared_inputs() -> (tempfile::TempDir, std::path::PathBuf) {
    let samples = root().join("plugins/music-sync/samples");
    let mut lines = Vec::new();
    for (i, line) in std::fs::read_to_string(samples.join("tasks.jsonl"))
        .unwrap()
        .lines()
        .enumerate()
    {
        let mut task: Value = serde_json::from_str(line).unwrap();
        task["id"] = Value::String(format!("sample-{i}"));
        lines.push(task.to_string());
    }
    lines.extend(
        std::fs::read_to_string(samples.join("edge-tasks.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_owned),
    );
    input_file(&lines)
}

fn same_as_rust(port: &str) {
    let (_dir, input) = shared_inputs();
    let rust = outcomes("music-sync", &input);
    let other = outcomes(port, &input);
    assert!(
        rust.len() > 100,
        "the shared inputs are there: {}",
        rust.len()
    );
    let unreadable: Vec<_> = rust
        .values()
        .chain(other.values())
        .filter(|outcome| matches!(outcome, Outcome::Unreadable(_)))
        .collect();
    assert!(
        unreadable.is_empty(),
        "errors not of the form `<field>: <reason>[: <detail>]` with a reason of {REASONS:?}: {unreadable:#?}"
    );
    assert_eq!(
        rust.keys().collect::<Vec<_>>(),
        other.keys().collect::<Vec<_>>()
    );
    let differences: Vec<_> = rust
        .iter()
        .filter(|(id, outcome)| other.get(*id) != Some(outcome))
        .map(|(id, outcome)| format!("{id}:\n  rust: {outcome:?}\n  {port}: {:?}", other[id]))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} differ:\n{}",
        differences.len(),
        rust.len(),
        differences.join("\n")
    );
}

#[test]
fn javascript_port_matches_rust() {
    same_as_rust("music-sync-js");
}

#[test]
fn python_port_matches_rust() {
    same_as_rust("music-sync-py");
}

#[test]
fn c_port_matches_rust() {
    same_as_rust("music-sync-c");
}
