//! Politeness toward the sites fetched: per URL host rate and concurrency
//! limits, in one process and shared by several through Redis, and the
//! hold-back after a 503 or 429 with Retry-After.

use std::time::Duration;

use crate::redis_util::*;
use crate::util::*;

#[test]
fn a_host_rate_limit_spaces_the_requests() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["chaos"]);
    let urls: Vec<String> = (0..10)
        .map(|i| server.url(&format!("/chaos/r{i}")))
        .collect();
    let run = run(jobhost()
        .args(["run", "--concurrency", "8", "--host-rate", "5", "--plugins"])
        .arg(plugins.path())
        .args(&urls));
    assert_eq!(run.code, 0, "{run:?}");
    let times = server.times_with_prefix("/chaos/r");
    assert_eq!(times.len(), 10);
    let span = times[9] - times[0];
    // 5 per second: 9 gaps of 200 ms.
    assert!(
        span >= Duration::from_millis(1700),
        "10 requests in {span:?}"
    );
}

#[test]
fn a_host_concurrency_limit_caps_requests_in_progress() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["template"]);
    let urls: Vec<String> = (0..8).map(|_| server.url("/conc/300")).collect();
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--concurrency",
            "8",
            "--host-concurrency",
            "2",
            "--plugins",
        ])
        .arg(plugins.path())
        .args(&urls));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(server.hits("/conc/300"), 8);
    assert_eq!(server.max_concurrent(), 2, "{run:?}");
}

#[test]
fn retry_after_holds_the_whole_host_back_without_spending_attempts() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["chaos", "template"]);
    let busy = server.url("/retry-after/2");
    let next = server.url("/chaos/after-hold");
    let run = run(jobhost()
        .args([
            "run",
            "--concurrency",
            "1",
            "--max-attempts",
            "1",
            "--plugins",
        ])
        .arg(plugins.path())
        .arg(format!(r#"{{"url":"{busy}","plugin":"template"}}"#))
        .arg(&next));
    assert_eq!(run.code, 1, "the 503 job is dead: {run:?}");
    assert!(run.stderr.contains("holding back 127.0.0.1"), "{run:?}");
    let gap = server.times("/chaos/after-hold")[0] - server.times("/retry-after/2")[0];
    assert!(
        gap >= Duration::from_millis(1900),
        "the next request waited for the hold: {gap:?}"
    );
    // The held-back job was put back, not failed: its one attempt is still 1.
    let record = run
        .records()
        .into_iter()
        .find(|r| r["url"] == next.as_str())
        .expect("done");
    assert_eq!(record["record"]["attempt"], 1, "{run:?}");
}

#[test]
fn the_rate_limit_is_shared_by_hosts_through_redis() {
    let redis = RedisServer::start(false);
    let server = TestServer::start();
    let plugins = PluginDir::with(&["chaos"]);
    // Enough jobs that the first host cannot take them all: it leases two
    // entries per worker read ahead besides the ones running.
    let lines: Vec<String> = (0..24)
        .map(|i| server.url(&format!("/chaos/s{i}")))
        .collect();
    enqueue(&redis, &lines, &[]);
    let args = ["--until-empty", "--host-rate", "5", "--concurrency", "4"];
    let mut a = Worker::start(&redis, plugins.path(), plugins.path(), "a", &args);
    let mut b = Worker::start(&redis, plugins.path(), plugins.path(), "b", &args);
    assert_eq!(a.wait(Duration::from_secs(60)), 0, "{}", a.log());
    assert_eq!(b.wait(Duration::from_secs(60)), 0, "{}", b.log());
    let times = server.times_with_prefix("/chaos/s");
    assert_eq!(times.len(), 24);
    let span = times[23] - times[0];
    // Together 5 per second (23 gaps of 200 ms), not 5 per second each.
    assert!(
        span >= Duration::from_millis(4300),
        "24 requests from 2 hosts in {span:?}"
    );
    assert!(
        !a.task_ids().is_empty() && !b.task_ids().is_empty(),
        "both hosts worked"
    );
}
