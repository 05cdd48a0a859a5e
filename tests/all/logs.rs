//! `--log-format json`: stderr holds one JSON object per line, the summary
//! included, and every line about a job names its task and plugin.

use serde_json::Value;

use crate::util::*;

#[test]
fn json_logs_are_one_object_per_line_and_job_lines_name_task_and_plugin() {
    let server = TestServer::start();
    let track = std::fs::read(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample track");
    server.add_track("1", &track);
    server.add_track("bad", b"{not json");
    let plugins = PluginDir::with(&["music-sync"]);
    let tasks = [
        format!(r#"{{"id":"good-1","url":"{}"}}"#, server.url("/tracks/1")),
        format!(r#"{{"id":"bad-1","url":"{}"}}"#, server.url("/tracks/bad")),
    ];
    let run = run(jobhost()
        .args([
            "run",
            "--log-format",
            "json",
            "--plugin",
            "music-sync",
            "--plugins",
        ])
        .arg(plugins.path())
        .args(&tasks));
    assert_eq!(run.code, 1, "one job is dead: {run:?}");
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let about =
        |task: &str| -> Vec<&Value> { lines.iter().filter(|line| line["task"] == task).collect() };
    // The plugin's own line for the good job, the host's for the dead one.
    let good = about("good-1");
    assert!(
        good.iter().any(|line| line["message"]
            .as_str()
            .is_some_and(|m| m.contains("synced track"))),
        "{good:?}"
    );
    let bad = about("bad-1");
    assert!(
        bad.iter().any(|line| line["level"] == "ERROR"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("job dead"))),
        "{bad:?}"
    );
    for line in good.iter().chain(&bad) {
        assert_eq!(line["plugin"], "music-sync", "{line}");
    }
    let summary = lines
        .iter()
        .find(|line| line["message"] == "summary")
        .expect("a summary line");
    assert_eq!((&summary["done"], &summary["dead"]), (&1.into(), &1.into()));
}
