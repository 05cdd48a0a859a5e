//! music-sync in every guest language: the JavaScript, Python and C ports,
//! built from source by plugins/build.sh, produce the same records as the
//! Rust plugin on the shared inputs (the samples and the edge cases in
//! plugins/music-sync/samples/, and answers 404 and 410 to task URLs of
//! every shape, served by servers started here), and fail the same
//! documents for the same reason on the same field. Records are compared
//! byte for byte, with their content types. Error messages read
//! `<field>: <reason>` or `<field>: <reason>: <detail>`
//! (plugins/music-sync/src/track.rs), where the detail is each language's
//! own; the status policy's messages (plugins/music-sync/src/status.rs)
//! are compared whole. A 404 or 410 asks for the track's row to be deleted
//! and deletes its kv key, which a run on Redis lets the tests see.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::redis_util::{enqueue, host, RedisServer};
use crate::util::*;

/// Every port, the Rust plugin first.
const PLUGINS: [&str; 4] = [
    "music-sync",
    "music-sync-js",
    "music-sync-py",
    "music-sync-c",
];

/// The content type of the record that asks for a track's row to be deleted.
const DELETE: &str = "application/json; op=delete";

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

/// The beginnings of the status policy's messages (status.rs).
const STATUS_MESSAGES: [&str; 2] = ["track not found (HTTP ", "unexpected HTTP status "];

/// What became of one task.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The record: its content type and its JSON text as the sink wrote it.
    Record { content_type: String, json: String },
    /// A dead letter: the field and the reason of its error.
    Error { field: String, reason: String },
    /// A dead letter from the status policy: its whole message.
    Status(String),
    /// A dead letter whose error does not read `<field>: <reason>[: <detail>]`.
    Unreadable(String),
}

impl Outcome {
    /// The delete record of track `id`.
    fn delete(id: &str) -> Self {
        Outcome::Record {
            content_type: DELETE.to_owned(),
            json: json!({ "id": id }).to_string(),
        }
    }
}

/// One line of the JSON Lines output, its record kept as written.
#[derive(Deserialize)]
struct Line {
    task_id: String,
    plugin: String,
    content_type: String,
    record: Box<RawValue>,
}

fn parse_lines(text: &str) -> Vec<Line> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad output line {line:?}: {e}"))
        })
        .collect()
}

/// The field and the reason of a plugin's error message.
fn parse_error(plugin: &str, error: &str) -> Outcome {
    let message = error
        .strip_prefix(&format!("plugin {plugin} failed: "))
        .unwrap_or(error);
    if STATUS_MESSAGES
        .iter()
        .any(|start| message.starts_with(start))
    {
        return Outcome::Status(message.to_owned());
    }
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
fn outcomes(plugin: &str, input: &Path) -> BTreeMap<String, Outcome> {
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
    for line in parse_lines(&run.stdout) {
        assert_eq!(line.plugin, plugin);
        let record = Outcome::Record {
            content_type: line.content_type,
            json: line.record.get().to_owned(),
        };
        assert!(out.insert(line.task_id, record).is_none(), "{run:?}");
    }
    for line in std::fs::read_to_string(&dead).unwrap_or_default().lines() {
        let letter: Value = serde_json::from_str(line).unwrap();
        let id = letter["id"].as_str().unwrap().to_owned();
        out.insert(id, parse_error(plugin, letter["error"].as_str().unwrap()));
    }
    out
}

/// An HTTP server on 127.0.0.1 that answers every request with one status,
/// as a provider answers for a track whose licence ended; except
/// `/moved/…`, which it redirects to `/elsewhere/9` (answered with that
/// status too), so that the final URL names another track than the task's.
struct StatusServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StatusServer {
    fn start(status: u16) -> Self {
        let status = StatusCode::from_u16(status).expect("a status code");
        let app = axum::Router::new().fallback(move |uri: Uri| async move {
            if uri.path().starts_with("/moved/") {
                return (StatusCode::FOUND, [(header::LOCATION, "/elsewhere/9")], "")
                    .into_response();
            }
            let response: Response = (
                status,
                [(header::CONTENT_TYPE, "text/plain")],
                "no such track",
            )
                .into_response();
            response
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        StatusServer {
            addr,
            shutdown: Some(shutdown),
        }
    }

    /// The server's URL with `rest` appended (`""`: no path at all).
    fn url(&self, rest: &str) -> String {
        format!("http://{}{rest}", self.addr)
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The task URLs of the status cases, after the server's address, and the
/// id each names (`None`: none, so the job fails).
const STATUS_URLS: [(&str, Option<&str>); 20] = [
    ("/tracks/42", Some("42")),
    ("/tracks/42/", Some("42")),
    ("/tracks/42//", Some("42")),
    ("/tracks/42?format=json&next=/tracks/43", Some("42")),
    ("/tracks/42#credits/2", Some("42")),
    ("/tracks/42/?a=1#b?c/d", Some("42")),
    ("/v2/catalogue/tracks/ab-C_9.x~", Some("ab-C_9.x~")),
    ("/tracks/a%20b%2Fc", Some("a%20b%2Fc")),
    (
        "/tracks/caf\u{e9}-\u{2028}-\u{1f3b5}",
        Some("caf\u{e9}-\u{2028}-\u{1f3b5}"),
    ),
    ("/tracks/q\"uote\\", Some("q\"uote\\")),
    (
        "/tracks/tab\tand\u{1}ctl\u{7f}",
        Some("tab\tand\u{1}ctl\u{7f}"),
    ),
    ("/tracks;v=1/7;x", Some("7;x")),
    ("/moved/77", Some("77")),
    ("/42", Some("42")),
    ("/", None),
    ("", None),
    ("//", None),
    ("/?id=42", None),
    ("#/tracks/42", None),
    ("/?a#/tracks/42", None),
];

/// What a status case must give.
#[derive(Debug)]
enum Want {
    /// The delete record of this track id.
    Delete(&'static str),
    /// A dead letter: the task's URL names no track id (the message names
    /// the final URL, as the host reports it, and is compared between the
    /// ports whole).
    NoId(u16),
}

impl Want {
    fn matches(&self, outcome: Option<&Outcome>) -> bool {
        match (self, outcome) {
            (Want::Delete(id), Some(outcome)) => *outcome == Outcome::delete(id),
            (Want::NoId(status), Some(Outcome::Status(message))) => {
                let start = format!("track not found (HTTP {status}) at http://127.0.0.1:");
                message.starts_with(&start)
                    && message.ends_with(": the task's URL names no track id")
            }
            _ => false,
        }
    }
}

/// The shared inputs: a file of tasks with ids, so that outcomes can be
/// matched by id, and the servers its HTTP tasks need.
struct Inputs {
    _dir: tempfile::TempDir,
    path: PathBuf,
    _servers: Vec<StatusServer>,
    /// What the status cases must give, by task id.
    status_cases: BTreeMap<String, Want>,
}

/// The samples, the edge cases, and the status cases: every URL shape of
/// [`STATUS_URLS`] answered 404 and 410.
fn shared_inputs() -> Inputs {
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
    let mut servers = Vec::new();
    let mut status_cases = BTreeMap::new();
    for status in [404, 410] {
        let server = StatusServer::start(status);
        for (i, (rest, id)) in STATUS_URLS.iter().enumerate() {
            let task_id = format!("status-{status}-{i:02}");
            let url = server.url(rest);
            lines.push(json!({ "id": task_id, "url": url }).to_string());
            let want = match id {
                Some(id) => Want::Delete(id),
                None => Want::NoId(status),
            };
            status_cases.insert(task_id, want);
        }
        servers.push(server);
    }
    let (dir, path) = input_file(&lines);
    Inputs {
        _dir: dir,
        path,
        _servers: servers,
        status_cases,
    }
}

fn same_as_rust(port: &str) {
    let inputs = shared_inputs();
    let rust = outcomes("music-sync", &inputs.path);
    let other = outcomes(port, &inputs.path);
    assert!(
        rust.len() > 100,
        "the shared inputs are there: {}",
        rust.len()
    );
    // The status cases are known in advance: check the Rust plugin's too.
    let wrong: Vec<_> = inputs
        .status_cases
        .iter()
        .filter(|(id, want)| !want.matches(rust.get(*id)))
        .map(|(id, want)| format!("{id}:\n  want: {want:?}\n  rust: {:?}", rust.get(id)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
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

/// Every port, on a 404 and a 410, deletes the track's kv key (and only
/// that: the other tracks and the `stats:tracks` counter stay) and asks for
/// the track's row to be deleted. The key-value store is Redis here, so
/// that the test can read it.
#[test]
fn every_port_deletes_the_kv_key_of_a_gone_track_and_keeps_the_counter() {
    let redis = RedisServer::start(false);
    let not_found = StatusServer::start(404);
    let gone = StatusServer::start(410);
    let key = |plugin: &str, key: &str| format!("jobhost:kv:{plugin}:{key}");
    let mut conn = redis.conn();
    let mut tasks = Vec::new();
    for plugin in PLUGINS {
        for (name, value) in [
            ("music:42", r#"{"id":"42"}"#),
            ("music:a%20b", "old"),
            ("music:43", "kept"),
            ("stats:tracks", "7"),
        ] {
            let () = redis::cmd("SET")
                .arg(key(plugin, name))
                .arg(value)
                .query(&mut conn)
                .unwrap();
        }
        let task = |status: u16, url: String| {
            json!({ "id": format!("{plugin} {status}"), "url": url, "plugin": plugin }).to_string()
        };
        tasks.push(task(404, not_found.url("/tracks/42")));
        tasks.push(task(410, gone.url("/tracks/a%20b/?v=2#top")));
    }
    let enqueued = enqueue(&redis, &tasks, &[]);
    assert_eq!(enqueued.code, 0, "{enqueued:?}");
    let plugins = PluginDir::with(&PLUGINS);
    let dir = tempfile::tempdir().unwrap();
    // The JavaScript and Python components may need compiling first.
    let mut worker = host(&redis, &plugins, "h")
        .dir(dir.path())
        .until_empty()
        .start();
    worker.exits(0, std::time::Duration::from_secs(300));

    let output = std::fs::read_to_string(&worker.out).unwrap_or_default();
    let mut records: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in parse_lines(&output) {
        assert_eq!(line.task_id.split(' ').next(), Some(line.plugin.as_str()));
        let record = (line.content_type, line.record.get().to_owned());
        records.insert(line.task_id, record);
    }
    let mut want = BTreeMap::new();
    for plugin in PLUGINS {
        let delete = |id: &str| (DELETE.to_owned(), format!(r#"{{"id":"{id}"}}"#));
        want.insert(format!("{plugin} 404"), delete("42"));
        want.insert(format!("{plugin} 410"), delete("a%20b"));
    }
    assert_eq!(records, want, "{}", worker.log());

    for plugin in PLUGINS {
        let mut get = |name: &str| -> Option<String> {
            redis::cmd("GET")
                .arg(key(plugin, name))
                .query(&mut conn)
                .unwrap()
        };
        assert_eq!(get("music:42"), None, "{plugin}");
        assert_eq!(get("music:a%20b"), None, "{plugin}");
        assert_eq!(get("music:43").as_deref(), Some("kept"), "{plugin}");
        assert_eq!(get("stats:tracks").as_deref(), Some("7"), "{plugin}");
    }
    let log = worker.log();
    assert!(
        log.contains("track 42 gone (HTTP 404): asked for its row to be deleted"),
        "{log}"
    );
}
