//! music-sync in every guest language: the JavaScript, Python and C ports,
//! built from source by plugins/build.sh, produce the same records and the
//! same errors as the Rust plugin on the shared inputs (the samples and the
//! edge cases in plugins/music-sync/samples/).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::*;

/// Task id → the record (as JSON text) or the dead letter's error.
fn outcomes(plugin: &str, input: &std::path::Path) -> BTreeMap<String, String> {
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
        out.insert(id, format!("record {}", line["record"]));
    }
    for line in std::fs::read_to_string(&dead).unwrap_or_default().lines() {
        let letter: Value = serde_json::from_str(line).unwrap();
        let id = letter["id"].as_str().unwrap().to_owned();
        // Error messages name the plugin; compare what follows the name.
        let error =
            letter["error"]
                .as_str()
                .unwrap()
                .replacen(&format!("plugin {plugin} "), "plugin ", 1);
        out.insert(id, format!("error {error}"));
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
    assert_eq!(
        rust.keys().collect::<Vec<_>>(),
        other.keys().collect::<Vec<_>>()
    );
    let differences: Vec<_> = rust
        .iter()
        .filter(|(id, outcome)| other.get(*id) != Some(outcome))
        .map(|(id, outcome)| format!("{id}:\n  rust: {outcome}\n  {port}: {}", other[id]))
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
