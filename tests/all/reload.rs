//! Hot reload under load: replacing a plugin file while jobs stream in.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn adding_replacing_and_removing_plugins_under_load_loses_no_job_and_rejects_a_broken_file() {
    let plugins = PluginDir::with(&["chaos", "template"]);
    let live = plugins.path().join("chaos.wasm");
    let mut child = jobhost()
        .args([
            "run",
            "--input",
            "-",
            "--concurrency",
            "4",
            "--reload-interval",
            "100ms",
            "--plugins",
        ])
        .arg(plugins.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let total = 300;
    let started = Instant::now();
    let mut swapped = false;
    let mut broke = false;
    let mut removed = false;
    for i in 0..total {
        writeln!(stdin, r#"{{"id":"job{i}","payload":"x","plugin":"chaos","metadata":{{"action":"busy","ms":"5"}}}}"#).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(10));
        let elapsed = started.elapsed();
        if !swapped && elapsed > Duration::from_millis(800) {
            // A plain copy (not an atomic rename): the reloader must wait for
            // the file to hold still.
            std::fs::copy(plugin_file("chaos-v2"), &live).unwrap();
            std::fs::remove_file(plugins.path().join("template.wasm")).unwrap();
            std::fs::copy(plugin_file("links"), plugins.path().join("links.wasm")).unwrap();
            swapped = true;
            removed = true;
        }
        if !broke && elapsed > Duration::from_millis(2000) {
            std::fs::write(&live, b"not a component any more").unwrap();
            broke = true;
        }
    }
    assert!(
        swapped && broke && removed,
        "the feed was too fast to test anything"
    );
    std::thread::sleep(Duration::from_millis(500));
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), total, "every job done:\n{stderr}");
    let old = records
        .iter()
        .filter(|r| r["record"]["version"] == "0.1.0")
        .count();
    let new = records
        .iter()
        .filter(|r| r["record"]["version"] == "2.0.0")
        .count();
    assert_eq!(
        old + new,
        total,
        "each job ran on the old or the new version"
    );
    assert!(
        old > 0 && new > 0,
        "both versions served: old {old}, new {new}\n{stderr}"
    );
    // The last jobs ran after the broken file appeared: still the new version.
    assert_eq!(
        records
            .iter()
            .find(|r| r["task_id"] == format!("job{}", total - 1))
            .unwrap()["record"]["version"],
        "2.0.0"
    );
    assert!(stderr.contains("reloaded plugin chaos 2.0.0"), "{stderr}");
    assert!(stderr.contains("reloaded plugin links 0.1.0"), "{stderr}");
    assert!(
        stderr.contains("template.wasm removed: unloaded"),
        "{stderr}"
    );
    assert!(stderr.contains("not a WebAssembly file"), "{stderr}");
    assert!(stderr.contains("chaos 2.0.0 keeps serving"), "{stderr}");
}
