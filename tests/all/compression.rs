//! Compressed answers: the fetcher asks for gzip, br and zstd, hands the
//! plugin the decoded document (music-sync makes the same record from each),
//! and cuts off a body that decompresses past --max-body, naming it.

use serde_json::Value;

use crate::util::*;

#[test]
fn a_document_sent_compressed_makes_the_same_record_as_sent_plain() {
    let server = TestServer::start();
    let track = root().join("plugins/music-sync/samples/tracks/1001.json");
    server.add_track("1001", &std::fs::read(&track).expect("sample track"));
    let urls: Vec<String> = [
        "/tracks/1001",
        "/encoded/gzip/1001",
        "/encoded/br/1001",
        "/encoded/zstd/1001",
    ]
    .iter()
    .map(|path| server.url(path))
    .collect();
    let plugins = PluginDir::with(&["music-sync"]);
    let run = run(jobhost()
        .args(["run", "--plugin", "music-sync", "--plugins"])
        .arg(plugins.path())
        .args(&urls));
    assert_eq!(run.code, 0, "{run:?}");
    let mut records: Vec<Value> = run.record_values();
    assert_eq!(records.len(), 4, "{run:?}");
    for record in &mut records {
        // The one field that names where it came from.
        if let Some(fields) = record.as_object_mut() {
            fields.remove("source_url");
        }
    }
    for record in &records[1..] {
        assert_eq!(record, &records[0]);
    }
    let asked = server.state.accept_encoding.lock().unwrap().clone();
    assert_eq!(asked, vec!["gzip, br, zstd"; 3]);
}

#[test]
fn a_body_that_decompresses_past_the_limit_is_cut_off_and_named() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["music-sync"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let run = run(jobhost()
        .args([
            "run",
            "--max-body",
            "1MiB",
            "--plugin",
            "music-sync",
            "--plugins",
        ])
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead)
        .arg(server.url("/bomb/64")));
    assert_eq!(run.code, 1, "{run:?}");
    let letters = read_dead_letters(&dead);
    assert_eq!(letters.len(), 1, "{run:?}");
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("decompression bomb") && error.contains("--max-body"),
        "{error}"
    );
    // Not retried: a bomb stays a bomb.
    assert_eq!(letters[0]["attempts"], 1, "{letters:?}");
}
