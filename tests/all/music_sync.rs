//! The reference case: music-info JSON in, normalised records and key-value
//! writes out, over HTTP and inline.

use serde_json::Value;

use crate::util::*;

fn samples() -> std::path::PathBuf {
    root().join("plugins/music-sync/samples")
}

/// The sample tasks (inline JSON) and the records music-sync must produce.
fn sample_tasks() -> Vec<Value> {
    std::fs::read_to_string(samples().join("tasks.jsonl"))
        .expect("samples/tasks.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("task line"))
        .collect()
}

fn expected() -> Vec<Value> {
    std::fs::read_to_string(samples().join("expected.jsonl"))
        .expect("samples/expected.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("expected line"))
        .collect()
}

#[test]
fn music_sync_over_http_normalises_every_track_and_dead_letters_the_broken_one() {
    let server = TestServer::start();
    let mut urls = Vec::new();
    for entry in std::fs::read_dir(samples().join("tracks")).unwrap() {
        let path = entry.unwrap().path();
        let id = path.file_stem().unwrap().to_str().unwrap().to_owned();
        server.add_track(&id, &std::fs::read(&path).unwrap());
    }
    // Same order as expected.jsonl: the order of tasks.jsonl.
    for task in sample_tasks() {
        let id = task["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        urls.push((id.clone(), server.url(&format!("/tracks/{id}"))));
    }
    urls.push(("missing".into(), server.url("/tracks/404404")));
    let lines: Vec<String> = urls.iter().map(|(_, url)| url.clone()).collect();
    let (_dir, input) = input_file(&lines);
    let plugins = PluginDir::with(&["music-sync"]);
    let dead = plugins.path().join("dead.jsonl");
    let run = run(jobhost()
        .args(["run", "--concurrency", "1", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead));

    // One broken sample and one 404: exit 1, both dead with clear reasons.
    assert_eq!(run.code, 1, "{run:?}");
    let mut want = expected();
    for (record, (_, url)) in want.iter_mut().zip(&urls) {
        record["source_url"] = Value::String(url.clone());
    }
    let got = run.record_values();
    assert_eq!(got, want, "{run:?}");
    for line in run.records() {
        assert_eq!(line["plugin"], "music-sync");
        assert_eq!(line["content_type"], "application/json");
    }
    let letters: Vec<Value> = read_dead_letters(&dead);
    assert_eq!(letters.len(), 2, "{letters:?}");
    let errors: Vec<&str> = letters
        .iter()
        .map(|l| l["error"].as_str().unwrap())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("title: missing")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("track not found (HTTP 404)")),
        "{errors:?}"
    );
    // Permanent failures are not retried.
    assert!(letters.iter().all(|l| l["attempts"] == 1), "{letters:?}");
    assert_eq!(server.hits("/tracks/404404"), 1);
    let summary = format!("done {}, retried 0, dead 2", want.len());
    assert!(run.stderr.contains(&summary), "{run:?}");
}

#[test]
fn inline_sample_tasks_produce_exactly_the_expected_records() {
    let plugins = PluginDir::with(&["music-sync"]);
    let run = run(jobhost()
        .args(["run", "--concurrency", "4", "--input"])
        .arg(samples().join("tasks.jsonl"))
        .arg("--plugins")
        .arg(plugins.path()));
    // Concurrency reorders lines; compare as sets keyed by id.
    let mut got = run.record_values();
    let mut want = expected();
    let key = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want, "{run:?}");
}

#[test]
fn file_urls_need_an_allowed_root() {
    let plugins = PluginDir::with(&["music-sync"]);
    let track = std::fs::canonicalize(samples().join("tracks/1001.json")).unwrap();
    let url = format!("file://{}", track.display());
    let denied = run(jobhost()
        .args(["run", "--plugin", "music-sync", &url, "--plugins"])
        .arg(plugins.path()));
    assert_eq!(denied.code, 1, "{denied:?}");
    assert!(denied.stderr.contains("--allow-files"), "{denied:?}");

    let allowed = run(jobhost()
        .args(["run", "--plugin", "music-sync", &url, "--plugins"])
        .arg(plugins.path())
        .arg("--allow-files")
        .arg(samples()));
    assert_eq!(allowed.code, 0, "{allowed:?}");
    let records = allowed.record_values();
    assert_eq!(records.len(), 1, "{allowed:?}");
    assert_eq!(records[0]["source_url"], url.as_str());
}

/// A reused music-sync instance frees each job's memory: one instance
/// serving 120 jobs of about 200 KiB each (24 MiB in all) within an 8 MiB
/// memory limit works only if nothing creeps from job to job, and a 3 MiB
/// document makes the heap grow well past its first pages.
#[test]
fn a_reused_music_sync_instance_does_not_creep_and_a_large_document_grows_its_heap() {
    let server = TestServer::start();
    let track = |id: u32, notes: usize| {
        serde_json::json!({
            "id": id,
            "title": format!("Track {id}"),
            "artist": "Someone",
            "duration": 200,
            "notes": "n".repeat(notes),
        })
        .to_string()
    };
    let mut lines = Vec::new();
    for id in 5000..5120 {
        server.add_track(&id.to_string(), track(id, 200 * 1024).as_bytes());
        lines.push(server.url(&format!("/tracks/{id}")));
    }
    server.add_track("9999", track(9999, 3 << 20).as_bytes());
    lines.push(server.url("/tracks/9999"));
    let (_dir, input) = input_file(&lines);
    let plugins = PluginDir::with(&["music-sync"]);
    let run = run(jobhost()
        .args(["run", "--concurrency", "1", "--max-memory", "8MiB"])
        .args(["--reuse-instances", "music-sync=1000", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 0, "{run:?}");
    let mut ids: Vec<String> = run
        .record_values()
        .iter()
        .map(|record| record["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    let mut want: Vec<String> = (5000..5120).map(|id: u32| id.to_string()).collect();
    want.push("9999".to_owned());
    assert_eq!(ids, want, "{run:?}");
}
