//! The reference case: music-info JSON in, normalised records and key-value
//! writes out, over HTTP and inline; a track the provider no longer serves
//! (404, 410) out as a record that asks for its row to be deleted.

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
fn music_sync_over_http_syncs_every_track_deletes_a_missing_one_and_buries_the_broken() {
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
    // A track the provider answers 404 for, and a 404 at a URL that names
    // no track.
    let missing = server.url("/tracks/404404");
    let no_id = server.url("/");
    let mut lines: Vec<String> = urls.iter().map(|(_, url)| url.clone()).collect();
    lines.push(missing.clone());
    lines.push(no_id.clone());
    let (_dir, input) = input_file(&lines);
    let plugins = PluginDir::with(&["music-sync"]);
    let dead = plugins.path().join("dead.jsonl");
    let run = run(jobhost()
        .args([
            "run",
            "--concurrency",
            "1",
            "--plugin",
            "music-sync",
            "--input",
        ])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead));

    // One broken sample and one 404 without an id: exit 1, both dead with
    // clear reasons. The 404 with an id is done: its record asks for the
    // track's row to be deleted.
    assert_eq!(run.code, 1, "{run:?}");
    let mut want = expected();
    for (record, (_, url)) in want.iter_mut().zip(&urls) {
        record["source_url"] = Value::String(url.clone());
    }
    want.push(serde_json::json!({"id": "404404"}));
    let got = run.record_values();
    assert_eq!(got, want, "{run:?}");
    let lines = run.records();
    let (deleted, synced) = lines.split_last().unwrap();
    for line in synced {
        assert_eq!(line["plugin"], "music-sync");
        assert_eq!(line["content_type"], "application/json");
    }
    assert_eq!(deleted["plugin"], "music-sync");
    assert_eq!(deleted["url"], missing.as_str());
    assert_eq!(deleted["content_type"], "application/json; op=delete");
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap()
            .ends_with(r#""content_type":"application/json; op=delete","record":{"id":"404404"}}"#),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("track 404404 gone (HTTP 404): asked for its row to be deleted"),
        "{run:?}"
    );

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
    let no_id_error =
        format!("track not found (HTTP 404) at {no_id}: the task's URL names no track id");
    assert!(
        errors.iter().any(|e| e.ends_with(&no_id_error)),
        "{errors:?}"
    );
    // Permanent failures are not retried, and a 404 is fetched once.
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
fn the_readmes_first_command_ends_with_every_job_done() {
    // README, Try it: eight sample documents by file:// URL.
    let plugins = PluginDir::with(&["music-sync"]);
    let urls: Vec<String> = (1..=8)
        .map(|n| {
            let path = std::fs::canonicalize(samples().join(format!("tracks/100{n}.json")))
                .expect("sample track");
            format!("file://{}", path.display())
        })
        .collect();
    let run = run(jobhost()
        .args(["run", "--plugin", "music-sync", "--allow-files"])
        .arg(samples())
        .arg("--plugins")
        .arg(plugins.path())
        .args(&urls));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.record_values().len(), 8, "{run:?}");
    assert!(run.stderr.contains("done 8, retried 0, dead 0"), "{run:?}");
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
