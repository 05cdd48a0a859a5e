//! `rediss://` with an ACL user: a redis-server the test starts with TLS
//! only (a CA and certificate the test makes) and a user limited to
//! jobhost's keys; the queue, the kv store, politeness, schedules, the
//! dashboard and the dead-letter commands work through it, and the password
//! shows nowhere.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_util::{chaos_tasks, free_port};
use crate::util::*;

const PASSWORD: &str = "s3cret-acl-pw-5d1e";

/// A TLS-only redis-server whose `worker` user may touch `jobhost:*` only.
struct TlsRedis {
    port: u16,
    tls: TlsFiles,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start() -> Self {
        let tls = TlsFiles::make();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "port 0\ntls-port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\n\
                 tls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no\n\
                 user default off\n\
                 user worker on >{PASSWORD} ~jobhost:* &* +@all -@dangerous\n",
                tls.cert.display(),
                tls.key.display(),
                tls.ca.display()
            ),
        )
        .expect("redis.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start with TLS"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsRedis {
            port,
            tls,
            child,
            _dir: dir,
        }
    }

    fn url(&self, password: &str) -> String {
        format!("rediss://worker:{password}@127.0.0.1:{}", self.port)
    }

    /// `jobhost ARGS` on this server's queue as the ACL user, with debug
    /// logs (so that any password they showed would be caught).
    fn jobhost(&self, args: &[&str]) -> Command {
        let mut command = jobhost();
        command
            .args(args)
            .args(["--queue", &self.url(PASSWORD), "--redis-ca-cert"])
            .arg(&self.tls.ca)
            .env("JOBHOST_LOG", "debug");
        command
    }

    /// A connection of the test's own, as the ACL user, verified by the CA.
    fn conn(&self) -> redis::Connection {
        redis::Client::build_with_tls(
            self.url(PASSWORD).as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(&self.tls.ca).expect("CA")),
            },
        )
        .expect("client")
        .get_connection()
        .expect("TLS connection")
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_queue_over_tls_with_an_acl_user_works_and_never_shows_the_password() {
    let redis = TlsRedis::start();
    let url = redis.url(PASSWORD);
    let ca = redis.tls.ca.to_str().expect("path").to_owned();
    let track = std::fs::read_to_string(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample");
    let track: serde_json::Value = serde_json::from_str(&track).expect("json");
    let tasks: Vec<String> = (0..20)
        .map(|i| {
            let mut doc = track.clone();
            doc["id"] = format!("{}", 5000 + i).into();
            serde_json::json!({"id": format!("t{i}"), "payload": doc, "plugin": "music-sync"})
                .to_string()
        })
        .chain(std::iter::once(
            r#"{"id":"broken","payload":{"id":"x"},"plugin":"music-sync"}"#.to_owned(),
        ))
        .collect();
    let (_input_dir, input) = input_file(&tasks);
    let with = |args: &[&str]| redis.jobhost(args);
    let input = input.to_str().expect("path").to_owned();
    let queued = run(&mut with(&["enqueue", "--input", &input]));
    assert_eq!(queued.code, 0, "{queued:?}");
    let plugins = PluginDir::with(&["music-sync"]);
    let plugins_dir = plugins.path().to_str().expect("path").to_owned();
    let worked = run(&mut with(&[
        "run",
        "--until-empty",
        "--plugins",
        &plugins_dir,
    ]));
    assert_eq!(worked.code, 1, "one task is broken: {worked:?}");
    assert_eq!(worked.records().len(), 20, "{worked:?}");
    let stats = run(&mut with(&["stats", "--json"]));
    assert_eq!(stats.code, 0, "{stats:?}");
    let counts: serde_json::Value = serde_json::from_str(&stats.stdout).expect("stats JSON");
    assert_eq!(
        (&counts["done"], &counts["dead"]),
        (&20.into(), &1.into()),
        "{counts}"
    );
    let dead = run(&mut with(&["dead", "list"]));
    assert_eq!(dead.code, 0, "{dead:?}");
    assert!(dead.stdout.contains("broken"), "{dead:?}");

    // The CA is required (no silent skip of verification), and a wrong
    // password is refused; neither message shows a password.
    let unverified = run(jobhost().args(["stats", "--queue", &url]));
    assert_eq!(unverified.code, 2, "{unverified:?}");
    assert!(
        unverified.stderr.to_lowercase().contains("certificate"),
        "{unverified:?}"
    );
    let wrong = run(jobhost().args([
        "stats",
        "--queue",
        &redis.url("not-the-password"),
        "--redis-ca-cert",
        &ca,
    ]));
    assert_eq!(wrong.code, 2, "{wrong:?}");

    // The user really is limited to jobhost's keys: everything above ran
    // under an ACL that refuses any other key.
    let mut conn = redis.conn();
    let refused = redis::cmd("SET")
        .arg("not-jobhost")
        .arg("x")
        .query::<()>(&mut conn)
        .expect_err("the ACL refuses keys outside jobhost:*");
    assert!(
        refused
            .to_string()
            .to_lowercase()
            .contains("no permissions"),
        "{refused}"
    );
    let foreign = run(&mut with(&["stats", "--queue-name", "x"]));
    assert_eq!(
        foreign.code, 0,
        "any queue name stays in jobhost:*: {foreign:?}"
    );

    assert_hidden(
        &[
            &queued,
            &worked,
            &stats,
            &dead,
            &unverified,
            &wrong,
            &foreign,
        ],
        &[PASSWORD, "not-the-password"],
    );
}

/// `GET path` from the dashboard on `port`: the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[test]
fn kv_politeness_schedules_dead_letters_and_the_dashboard_work_over_tls() {
    let redis = TlsRedis::start();
    let with = |args: &[&str]| redis.jobhost(args);
    let server = TestServer::start();
    let plugins = PluginDir::with(&["chaos"]);
    let plugins_dir = plugins.path().to_str().expect("path").to_owned();

    // kv writes that land with the ack (each job fails once first), URLs
    // under a shared per-host rate limit, and two jobs that die.
    let mut tasks = chaos_tasks("kv", 10, r#"{"action":"kv-add","succeed_at":"2"}"#);
    tasks.extend((0..6).map(|i| server.url(&format!("/chaos/p{i}"))));
    tasks.extend(chaos_tasks("dead", 2, r#"{"action":"fail"}"#));
    let (_input_dir, input) = input_file(&tasks);
    let queued = run(&mut with(&[
        "enqueue",
        "--input",
        input.to_str().expect("path"),
    ]));
    assert_eq!(queued.code, 0, "{queued:?}");
    let worked = run(&mut with(&[
        "run",
        "--until-empty",
        "--plugins",
        &plugins_dir,
        "--retry-delay",
        "10ms",
        "--host-rate",
        "5",
    ]));
    assert_eq!(worked.code, 1, "two jobs die: {worked:?}");
    let stats = run(&mut with(&["stats", "--json"]));
    let counts: serde_json::Value = serde_json::from_str(&stats.stdout).expect("stats JSON");
    assert_eq!(
        (&counts["done"], &counts["dead"], &counts["retried"]),
        (&16.into(), &2.into(), &10.into()),
        "{counts}"
    );
    // The kv store is in Redis, under the ACL's pattern.
    let mut conn = redis.conn();
    let adds: Option<String> = redis::cmd("GET")
        .arg("jobhost:kv:chaos:adds")
        .query(&mut conn)
        .expect("GET the kv counter");
    assert_eq!(
        adds.as_deref(),
        Some("10"),
        "one add per job, none per failed attempt"
    );
    // Politeness went through Redis: 6 requests at 5 per second.
    let times = server.times_with_prefix("/chaos/p");
    assert_eq!(times.len(), 6);
    assert!(
        times[5] - times[0] >= Duration::from_millis(900),
        "6 requests in {:?} at --host-rate 5",
        times[5] - times[0]
    );

    // Schedules: add, list, trigger, pause, remove.
    let (_task_dir, task_file) = input_file(&chaos_tasks("round", 3, r#"{"action":"ok"}"#));
    let added = run(&mut with(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--input",
        task_file.to_str().expect("path"),
    ]));
    assert_eq!(added.code, 0, "{added:?}");
    let triggered = run(&mut with(&["schedule", "trigger", "nightly"]));
    assert!(
        triggered.code == 0 && triggered.stderr.contains("3 tasks enqueued"),
        "{triggered:?}"
    );
    let paused = run(&mut with(&["schedule", "pause", "nightly"]));
    assert_eq!(paused.code, 0, "{paused:?}");
    let listed = run(&mut with(&["schedule", "list"]));
    assert!(
        listed.code == 0 && listed.stdout.contains("nightly") && listed.stdout.contains("(paused)"),
        "{listed:?}"
    );

    // The dashboard reads the same state through TLS.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut dashboard = with(&["dashboard", "--addr", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("jobhost dashboard");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the dashboard did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = http_get(port, "/api/state");
    let _ = dashboard.kill();
    let output = dashboard.wait_with_output().expect("dashboard output");
    let dashboard_log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(status.contains("200"), "{status}: {body}");
    let state: serde_json::Value = serde_json::from_str(&body).expect("state JSON");
    assert_eq!(state["counts"]["dead"], 2, "{state}");
    assert_eq!(state["counts"]["ready"], 3, "the triggered round: {state}");
    assert_eq!(state["schedules"][0]["name"], "nightly", "{state}");
    assert!(!body.contains(PASSWORD), "{body}");

    // Dead letters: retry one, purge the rest.
    let dead = run(&mut with(&["dead", "list"]));
    let ids: Vec<String> = dead
        .stdout
        .lines()
        .map(|line| {
            let letter: serde_json::Value = serde_json::from_str(line).expect("letter");
            letter["id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{dead:?}");
    let retried = run(&mut with(&["dead", "retry", &ids[0]]));
    assert_eq!(retried.code, 0, "{retried:?}");
    let purged = run(&mut with(&["dead", "purge"]));
    assert_eq!(purged.code, 0, "{purged:?}");
    let removed = run(&mut with(&["schedule", "remove", "nightly"]));
    assert_eq!(removed.code, 0, "{removed:?}");
    let stats_after = run(&mut with(&["stats", "--json"]));
    let after: serde_json::Value = serde_json::from_str(&stats_after.stdout).expect("stats JSON");
    assert_eq!(
        (&after["dead"], &after["ready"]),
        (&0.into(), &4.into()),
        "one retried beside the round's three: {after}"
    );

    let dashboard_run = Run {
        code: 0,
        stdout: body,
        stderr: dashboard_log,
    };
    assert_hidden(
        &[
            &queued,
            &worked,
            &stats,
            &added,
            &triggered,
            &paused,
            &listed,
            &dashboard_run,
            &dead,
            &retried,
            &purged,
            &removed,
            &stats_after,
        ],
        &[PASSWORD],
    );
}
