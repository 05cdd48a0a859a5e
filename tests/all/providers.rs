//! Provider APIs as they are: HTTPS from a private CA (`--ca-cert`) over
//! HTTP/2 on few connections, credentials per host that no output ever
//! shows, and conditional requests whose 304s end jobs without their
//! plugin. Real TLS (a CA and certificate each test makes), real Redis,
//! the real binary and the music-sync plugin.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::redis_util::*;
use crate::util::*;

/// A server holding the sample track under ids `0..n`.
fn tracks(server: &TestServer, n: usize) {
    let track = std::fs::read(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample track");
    for i in 0..n {
        server.add_track(&i.to_string(), &track);
    }
}

/// `jobhost run` with music-sync over the in-memory queue.
fn music_sync(plugins: &PluginDir, flags: &[&str], urls: &[String]) -> Run {
    run(jobhost()
        .args(["run", "--plugin", "music-sync", "--plugins"])
        .arg(plugins.path())
        .args(flags)
        .args(urls))
}

#[test]
fn https_from_a_private_ca_goes_over_http2_on_one_connection() {
    let server = TestServer::start_tls(&["h2", "http/1.1"]);
    tracks(&server, 300);
    let urls: Vec<String> = (0..300)
        .map(|i| server.url(&format!("/tracks/{i}")))
        .collect();
    let plugins = PluginDir::with(&["music-sync"]);
    let ca = server.ca_file().to_str().expect("path").to_owned();
    let done = music_sync(&plugins, &["--ca-cert", &ca, "--threads", "2"], &urls);
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.records().len(), 300, "{done:?}");
    // 128 workers at once, multiplexed: one HTTP/2 connection per thread
    // (each thread has its own pool).
    let connections = server.connections();
    assert!(
        !connections.is_empty() && connections.len() <= 2,
        "{connections:?}"
    );
    assert!(connections.iter().all(|p| p == "h2"), "{connections:?}");

    // Without the CA: not retried, and the error says what to do.
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let refused = music_sync(
        &plugins,
        &["--dead-letters", dead.to_str().expect("path")],
        &urls[..1],
    );
    assert_eq!(refused.code, 1, "{refused:?}");
    let letters = read_dead_letters(&dead);
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("certificate") && error.contains("--ca-cert"),
        "{error}"
    );
    assert_eq!(letters[0]["attempts"], 1, "{letters:?}");
}

#[test]
fn an_http1_provider_keeps_its_connections_alive_within_the_host_limit() {
    let server = TestServer::start_tls(&["http/1.1"]);
    tracks(&server, 200);
    let urls: Vec<String> = (0..200)
        .map(|i| server.url(&format!("/tracks/{i}")))
        .collect();
    let plugins = PluginDir::with(&["music-sync"]);
    let ca = server.ca_file().to_str().expect("path").to_owned();
    let done = music_sync(
        &plugins,
        &[
            "--ca-cert",
            &ca,
            "--host-concurrency",
            "4",
            "--threads",
            "2",
        ],
        &urls,
    );
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.records().len(), 200);
    // Four at once to the host, on two threads with a pool each: kept
    // alive, the connections number about the requests at once (reqwest's
    // pool may open one more when a request starts before the previous
    // answer's connection is back), far from one per request.
    let connections = server.connections();
    assert!(
        !connections.is_empty() && connections.len() <= 16,
        "{connections:?}"
    );
    assert!(
        connections.iter().all(|p| p == "http/1.1"),
        "{connections:?}"
    );
}

#[test]
fn a_ca_file_that_cannot_be_used_is_named() {
    let plugins = PluginDir::with(&["music-sync"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    for (file, says) in [
        (
            dir.path().join("missing.pem"),
            "cannot read the CA certificate file",
        ),
        (not_pem, "holds no PEM certificate"),
    ] {
        let run = music_sync(
            &plugins,
            &["--ca-cert", file.to_str().expect("path")],
            &["https://127.0.0.1:1/x".to_owned()],
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(says), "{run:?}");
    }
}

/// Every byte a run left: its output, its log, and what `stats` and
/// `dead list` print.
fn everything_printed(redis: &RedisServer, runs: &[&Run], files: &[&Path]) -> String {
    let mut all = String::new();
    for run in runs {
        all.push_str(&format!("{run:?}"));
    }
    for file in files {
        all.push_str(&std::fs::read_to_string(file).unwrap_or_default());
    }
    for args in [&["stats"][..], &["stats", "--json"], &["dead", "list"]] {
        let shown = crate::util::run(jobhost().args(args).args(["--queue", &redis.url()]));
        all.push_str(&format!("{shown:?}"));
    }
    all
}

#[test]
fn credentials_go_to_their_host_only_and_are_never_printed() {
    const KEY: &str = "sekrit-key-8f2b61";
    const TOKEN: &str = "sekrit-token-77c0d4";
    let server = TestServer::start();
    tracks(&server, 3);
    *server.state.api_key.lock().unwrap() = Some(KEY.to_owned());
    let port = server.addr.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        format!("# provider keys\n127.0.0.1:{port} X-Api-Key: {KEY}\n"),
    )
    .expect("write");
    let redis = RedisServer::start(false);
    let urls = [
        server.url("/private/0"),
        server.url("/private/1"),
        // Redirected to `localhost`: another host, which gets its own
        // credentials (the token) and not 127.0.0.1's key.
        server.url(&format!("/away/{port}/2")),
    ];
    let lines: Vec<String> = urls.to_vec();
    let queued = enqueue(&redis, &lines, &[]);
    assert_eq!(queued.code, 0, "{queued:?}");
    let plugins = PluginDir::with(&["music-sync"]);
    let output = dir.path().join("records.jsonl");
    let worked = run(jobhost()
        .args(["run", "--until-empty", "--plugin", "music-sync"])
        .args(["--queue", &redis.url(), "--plugins"])
        .arg(plugins.path())
        .arg("--credentials")
        .arg(&file)
        .arg("--output")
        .arg(&output)
        .env(
            "JOBHOST_CREDENTIALS",
            format!("localhost Authorization: Bearer {TOKEN}"),
        )
        .env("JOBHOST_LOG", "trace"));
    assert_eq!(worked.code, 1, "one job is dead: {worked:?}");

    let seen = server.state.credentials_seen.lock().unwrap().clone();
    let mut seen: Vec<(String, String, String)> = seen;
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("/private/0".to_owned(), KEY.to_owned(), "-".to_owned()),
            ("/private/1".to_owned(), KEY.to_owned(), "-".to_owned()),
            (
                "/private/2".to_owned(),
                "-".to_owned(),
                format!("Bearer {TOKEN}")
            ),
        ]
    );
    let records = std::fs::read_to_string(&output).expect("records");
    assert_eq!(records.lines().count(), 2, "{records}");
    let dead = dead_list(&redis);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0]["error"].as_str().is_some_and(|e| e.contains("401")),
        "{dead:?}"
    );

    let printed = everything_printed(&redis, &[&worked], &[&output]);
    assert!(printed.contains("not modified"), "stats were printed");
    for secret in [KEY, TOKEN] {
        assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
    }

    // A line that cannot be used is named by its line, not its value.
    std::fs::write(&file, format!("ok.example X-Key: a\n127.0.0.1 {KEY}\n")).expect("write");
    let refused = run(jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .arg("--credentials")
        .arg(&file)
        .arg(server.url("/private/0")));
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("line 2"), "{refused:?}");
    assert!(!format!("{refused:?}").contains(KEY), "{refused:?}");
}

#[test]
fn a_second_round_over_unchanged_documents_gets_304s_and_writes_nothing() {
    let server = TestServer::start();
    tracks(&server, 20);
    // Not a track: its job fails, so its validators are never kept.
    server.add_track("bad", b"{not json");
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["music-sync"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines: Vec<String> = (0..10)
        .map(|i| server.url(&format!("/versioned/{i}")))
        .chain((10..20).map(|i| server.url(&format!("/dated/{i}"))))
        .collect();
    lines.push(server.url("/versioned/bad"));
    let round = |name: &str| {
        let queued = enqueue(&redis, &lines, &[]);
        assert_eq!(queued.code, 0, "{queued:?}");
        let output = dir.path().join(format!("{name}.jsonl"));
        let worked = run(jobhost()
            .args([
                "run",
                "--until-empty",
                "--conditional",
                "--plugin",
                "music-sync",
            ])
            .args(["--queue", &redis.url()])
            .arg("--plugins")
            .arg(plugins.path())
            .arg("--output")
            .arg(&output));
        assert_eq!(worked.code, 1, "the bad track is dead: {worked:?}");
        let records = std::fs::read_to_string(&output).unwrap_or_default();
        (worked, records.lines().count())
    };

    let (_, first) = round("first");
    assert_eq!(first, 20);
    assert_eq!(server.state.not_modified.load(Ordering::SeqCst), 0);
    let (second_run, second) = round("second");
    assert_eq!(second, 0, "nothing written: {second_run:?}");
    assert_eq!(server.state.not_modified.load(Ordering::SeqCst), 20);
    assert!(
        second_run.stderr.contains("done 20 (20 not modified)"),
        "{second_run:?}"
    );
    let stats = stats(&redis);
    assert_eq!(stats["done"], 40, "{stats}");
    assert_eq!(stats["not_modified"], 20, "{stats}");
    // The failed one was fetched whole each time.
    assert_eq!(server.hits("/versioned/bad"), 2);

    // One document changes: only its job runs the plugin again.
    let changed =
        std::fs::read_to_string(root().join("plugins/music-sync/samples/tracks/1001.json"))
            .expect("sample")
            .replace("Harbour Lights", "Harbour Lights (Remastered)");
    server.add_track("3", changed.as_bytes());
    let (_, third) = round("third");
    assert_eq!(third, 1);
    assert_eq!(server.state.not_modified.load(Ordering::SeqCst), 39);
    let kept: Vec<String> = redis::cmd("KEYS")
        .arg("jobhost:kv:@conditional:*")
        .query(&mut redis.conn())
        .expect("KEYS");
    assert_eq!(kept.len(), 20, "{kept:?}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&kept[0])
        .query(&mut redis.conn())
        .expect("PTTL");
    assert!(ttl > 29 * 86_400_000, "kept for the default 30 days: {ttl}");
}
