//! `jobhost dashboard` in a real browser: Debian's chromium driven by
//! playwright-core (tests/browser/dashboard.mjs) against a dashboard over a
//! private Redis with a host working on it: the page loads with its token,
//! counts move while jobs run, a dead letter retried from its row leaves
//! the list, and requests without the token or the page's CSRF value are
//! refused. The screenshot it takes is the README's (see below).

use std::process::{Command, Stdio};

use crate::redis_util::*;
use crate::util::*;

const TOKEN: &str = "dashboard-token-0123456789";

#[test]
fn the_dashboard_shows_live_counts_and_retries_and_deletes_dead_letters_in_a_browser() {
    let server = TestServer::start();
    let track = std::fs::read(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample track");
    for i in 0..300 {
        server.add_track(&i.to_string(), &track);
    }
    // A broken document: its job dies, then the document is fixed and the
    // dead letter retried from the page.
    server.add_track("fixme", b"{not json");
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["music-sync"]);
    // Two more that stay broken: one deleted from its row, the other by
    // "Delete all".
    let broken: Vec<String> = ["fixme-1", "gone-1", "gone-2"]
        .iter()
        .map(|id| {
            format!(
                r#"{{"id":"{id}","url":"{}?{id}","plugin":"music-sync"}}"#,
                server.url("/tracks/fixme")
            )
        })
        .collect();
    let queued = enqueue(&redis, &broken, &[]);
    assert_eq!(queued.code, 0, "{queued:?}");
    host(&redis, &plugins, "first")
        .args(&["--until-empty"])
        .finish(1);
    assert_eq!(dead_list(&redis).len(), 3);
    server.add_track("fixme", &track);

    // Slow work for a host that keeps running: 1,000 jobs at 50 a second,
    // still running once node and Chromium have started on a loaded machine
    // (300 ran out first in one CI run).
    let lines: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"url":"{}","plugin":"music-sync"}}"#,
                server.url(&format!("/tracks/{i}"))
            )
        })
        .collect();
    let queued = enqueue(&redis, &lines, &[]);
    assert_eq!(queued.code, 0, "{queued:?}");
    // A schedule with one round fired by hand: its progress shows.
    for args in [
        vec![
            "add".to_owned(),
            "nightly".to_owned(),
            "--every".to_owned(),
            "24h".to_owned(),
            "--plugin".to_owned(),
            "music-sync".to_owned(),
            "--task".to_owned(),
            server.url("/tracks/7"),
        ],
        vec!["trigger".to_owned(), "nightly".to_owned()],
    ] {
        let done = run(jobhost()
            .arg("schedule")
            .args(&args)
            .args(["--queue", &redis.url()]));
        assert_eq!(done.code, 0, "{done:?}");
    }
    let mut worker = host(&redis, &plugins, "worker")
        .args(&["--host-rate", "50", "--host-concurrency", "4"])
        .start();

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut dashboard = jobhost()
        .args(["dashboard", "--queue", &redis.url(), "--addr", &addr])
        .env("JOBHOST_DASHBOARD_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jobhost dashboard");
    wait_until(
        MINUTE,
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        || "the dashboard did not listen".into(),
    );
    // The README's picture is this screenshot: JOBHOST_UPDATE_SCREENSHOT=1
    // writes it to docs/dashboard.png.
    let shots = tempfile::tempdir().expect("tempdir");
    let screenshot = if std::env::var_os("JOBHOST_UPDATE_SCREENSHOT").is_some() {
        root().join("docs/dashboard.png")
    } else {
        shots.path().join("dashboard.png")
    };
    let started = std::time::Instant::now();
    let browser = Command::new("node")
        .arg(root().join("tests/browser/dashboard.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(TOKEN)
        .arg("fixme-1")
        .arg(&screenshot)
        .output()
        .expect(
            "node (tests/browser: npm ci) and chromium (apt-get install chromium) are installed",
        );
    let took = started.elapsed();
    let _ = dashboard.kill();
    let _ = dashboard.wait();
    let out = String::from_utf8_lossy(&browser.stdout);
    let err = String::from_utf8_lossy(&browser.stderr);
    if !browser.status.success() {
        // Said first: without the browser's clicks nothing is retried.
        worker.signal("TERM");
        let _ = worker.wait(MINUTE);
        panic!(
            "the browser run failed (is chromium installed? .ci/run installs it):\n{out}\n{err}"
        );
    }
    // The retried job went to the back of the queue: it runs once the
    // jobs before it have.
    wait_until(
        MINUTE,
        || worker.task_ids().iter().any(|id| id == "fixme-1"),
        || format!("the retried job left no record: {}", worker.log()),
    );
    worker.signal("TERM");
    let _ = worker.wait(MINUTE);
    let seen: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or_default()).expect("the script's JSON");
    assert_eq!(seen["anonymous_page"], 401, "{seen}");
    assert_eq!(seen["no_csrf"], 403, "{seen}");
    assert!(
        seen["done_later"].as_f64() > seen["done_first"].as_f64(),
        "{seen}"
    );
    assert_eq!(seen["dead_after"], 0, "{seen}");
    // The retried job ran again, this time to done; the others are gone.
    assert!(dead_list(&redis).is_empty());
    assert!(std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000));
    eprintln!("browser part took {took:?}");
}

#[test]
fn the_dashboard_refuses_to_listen_beyond_loopback_without_a_token() {
    let redis = RedisServer::start(false);
    let run = run(jobhost().args([
        "dashboard",
        "--queue",
        &redis.url(),
        "--addr",
        &format!("0.0.0.0:{}", free_port()),
    ]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--token"), "{run:?}");
}
