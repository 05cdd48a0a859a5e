//! Loading plugin files (good, broken, wrong world) and plugins that
//! misbehave at run time (panic, trap, endless loop), plus the key-value store.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

fn broken_folder() -> PluginDir {
    let plugins = PluginDir::with(&["template"]);
    plugins.add("junk.wasm", b"this is not wasm at all");
    plugins.add("core.wasm", &wat::parse_str("(module)").unwrap());
    plugins.add("empty.wasm", &wat::parse_str("(component)").unwrap());
    plugins.add(
        "keyvalue-world.wasm",
        &wat::parse_str(r#"(component (import "wasi:keyvalue/store@0.2.0-draft" (instance)))"#)
            .unwrap(),
    );
    plugins
}

#[test]
fn broken_files_are_reported_by_name_and_the_rest_still_load() {
    let plugins = broken_folder();
    let list = run(jobhost().args(["plugins", "--plugins"]).arg(plugins.path()));
    assert_eq!(list.code, 0, "{list:?}");
    assert!(
        list.stdout.contains("name:          template 0.1.0"),
        "{list:?}"
    );
    let err = &list.stderr;
    assert!(
        err.contains("junk.wasm: not a WebAssembly file"),
        "{list:?}"
    );
    assert!(
        err.contains("core.wasm: is a core WebAssembly module, not a component"),
        "{list:?}"
    );
    assert!(
        err.contains("empty.wasm: does not match the world jobhost:plugin/plugin@0.1.0"),
        "{list:?}"
    );
    assert!(
        err.contains("describe"),
        "the missing export is named: {list:?}"
    );
    assert!(
        err.contains("keyvalue-world.wasm: does not match the world"),
        "{list:?}"
    );
    assert!(
        err.contains("wasi:keyvalue/store@0.2.0-draft"),
        "the bad import is named: {list:?}"
    );

    // `run` with the same folder still works with the good plugin.
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            r#"{"payload": "hi"}"#,
            "--plugins",
        ])
        .arg(plugins.path()));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.record_values()[0]["bytes"], 2);
}

#[test]
fn plugins_check_validates_one_file() {
    let plugins = broken_folder();
    let good = run(jobhost()
        .args(["plugins", "check", "--json"])
        .arg(plugin_file("music-sync")));
    assert_eq!(good.code, 0, "{good:?}");
    let info: Value = serde_json::from_str(&good.stdout).unwrap();
    assert_eq!(info["name"], "music-sync");
    assert_eq!(info["url_patterns"][0], "*/tracks/*");

    let bad = run(jobhost()
        .args(["plugins", "check"])
        .arg(plugins.path().join("core.wasm")));
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("wasm-tools component new"), "{bad:?}");
}

#[test]
fn a_panicking_or_trapping_plugin_fails_only_its_own_job() {
    let plugins = PluginDir::with(&["chaos"]);
    let dead = plugins.path().join("dead.jsonl");
    let mut lines = vec![
        r#"{"id":"panics","payload":"x","plugin":"chaos","metadata":{"action":"panic","message":"kaboom 42"}}"#.to_owned(),
        r#"{"id":"traps","payload":"x","plugin":"chaos","metadata":{"action":"trap"}}"#.to_owned(),
    ];
    for i in 0..20 {
        lines.push(format!(
            r#"{{"id":"ok{i}","payload":"p{i}","plugin":"chaos"}}"#
        ));
    }
    let (_dir, input) = input_file(&lines);
    let run = run(jobhost()
        .args(["run", "--concurrency", "4", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.records().len(), 20, "{run:?}");
    let letters: Vec<Value> = read_dead_letters(&dead);
    let panicked = letters
        .iter()
        .find(|l| l["id"] == "panics")
        .expect("panic job dead");
    let message = panicked["error"].as_str().unwrap();
    assert!(message.contains("plugin chaos trapped"), "{message}");
    assert!(
        message.contains("kaboom 42"),
        "the panic message reaches the job's error: {message}"
    );
    let trapped = letters
        .iter()
        .find(|l| l["id"] == "traps")
        .expect("trap job dead");
    assert!(
        trapped["error"].as_str().unwrap().contains("unreachable"),
        "{trapped}"
    );
    assert!(run.stderr.contains("done 20, retried 0, dead 2"), "{run:?}");
}

#[test]
fn an_endless_loop_hits_the_deadline_while_other_jobs_finish() {
    let plugins = PluginDir::with(&["chaos"]);
    let mut lines = vec![
        r#"{"id":"spins","payload":"x","plugin":"chaos","metadata":{"action":"loop"}}"#.to_owned(),
    ];
    for i in 0..10 {
        lines.push(format!(
            r#"{{"id":"ok{i}","payload":"p","plugin":"chaos"}}"#
        ));
    }
    let (_dir, input) = input_file(&lines);
    let started = Instant::now();
    let run = run(jobhost()
        .args([
            "run",
            "--concurrency",
            "2",
            "--plugin-timeout",
            "500ms",
            "--input",
        ])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("deadline exceeded"), "{run:?}");
    assert!(run.stderr.contains("done 10, retried 0, dead 1"), "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the loop was stopped"
    );
}

#[test]
fn the_key_value_store_outlives_instances_within_a_run() {
    let plugins = PluginDir::with(&["chaos"]);
    let lines: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"id":"kv{i}","payload":"x","plugin":"chaos","metadata":{{"action":"kv","key":"hits"}}}}"#))
        .collect();
    let (_dir, input) = input_file(&lines);
    let run = run(jobhost()
        .args(["run", "--concurrency", "3", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 0, "{run:?}");
    let mut values: Vec<i64> = run
        .record_values()
        .iter()
        .map(|r| r["value"].as_i64().unwrap())
        .collect();
    values.sort();
    // Every job ran on a fresh instance, yet the counter went 1..=5.
    assert_eq!(values, vec![1, 2, 3, 4, 5], "{run:?}");
}

#[test]
fn key_value_writes_of_a_retried_attempt_are_dropped_and_a_job_reads_its_own() {
    // Each job sets a key and adds 1 to a shared counter, reads both back,
    // then fails twice before it succeeds on its third attempt. Only the
    // successful attempts' writes may count: one at a time (concurrency 1),
    // the jobs see the counter at 1, 2, ... 5, where immediate writes would
    // have counted every attempt (up to 15).
    let plugins = PluginDir::with(&["chaos"]);
    let lines: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"id":"add{i}","payload":"x","plugin":"chaos","metadata":{{"action":"kv-add","succeed_at":"3"}}}}"#))
        .collect();
    let (_dir, input) = input_file(&lines);
    let run = run(jobhost()
        .args(["run", "--concurrency", "1", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("done 5, retried 10, dead 0"), "{run:?}");
    let records = run.record_values();
    let mut seen: Vec<i64> = records
        .iter()
        .map(|r| r["seen"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, vec![1, 2, 3, 4, 5], "{run:?}");
    assert!(records.iter().all(|r| r["attempt"] == 3), "{run:?}");
}

#[test]
fn plugin_log_lines_are_tagged_with_plugin_and_task() {
    let plugins = PluginDir::with(&["chaos"]);
    let run = run(jobhost()
        .args([
            "run",
            "-v",
            r#"{"id":"talker","payload":"x","plugin":"chaos","metadata":{"action":"log"}}"#,
            "--plugins",
        ])
        .arg(plugins.path()));
    assert_eq!(run.code, 0, "{run:?}");
    let tagged = run
        .stderr
        .lines()
        .filter(|l| l.contains("plugin=chaos") && l.contains("task=talker"))
        .count();
    // debug, info, warn, error are shown at -v; trace is not.
    assert_eq!(tagged, 4, "{run:?}");
}
