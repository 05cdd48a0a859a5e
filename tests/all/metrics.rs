//! `--metrics-addr`: a host on a real Redis queue serves Prometheus metrics,
//! scraped over HTTP and read with a Prometheus text-format parser.

use std::io::{Read, Write};
use std::time::Duration;

use prometheus_parse::{Scrape, Value};

use crate::redis_util::*;
use crate::util::*;

/// `GET /metrics` from `port`: the status line and the parsed body.
fn scrape(port: u16) -> (String, Scrape) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    (
        status,
        Scrape::parse(lines).expect("Prometheus text format"),
    )
}

/// The value of `name` with `labels`, as a number (a histogram: its count).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .all(|(key, want)| sample.labels.get(key) == Some(*want))
        })
        .map(|sample| match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |bucket| bucket.count),
            Value::Summary(_) => f64::NAN,
        })
}

#[test]
fn a_host_serves_its_counts_timings_and_the_queues_state() {
    let server = TestServer::start();
    let track = std::fs::read(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample track");
    for i in 0..20 {
        server.add_track(&i.to_string(), &track);
    }
    server.add_track("bad", b"{not json");
    let redis = RedisServer::start(false);
    let mut lines: Vec<String> = (0..20)
        .map(|i| server.url(&format!("/tracks/{i}")))
        .collect();
    lines.extend((0..5).map(|i| server.url(&format!("/tracks/bad?{i}"))));
    let queued = enqueue(&redis, &lines, &[]);
    assert_eq!(queued.code, 0, "{queued:?}");
    let later: Vec<String> = (0..3)
        .map(|i| server.url(&format!("/tracks/{i}?later")))
        .collect();
    let queued = enqueue(&redis, &later, &["--delay", "1h"]);
    assert_eq!(queued.code, 0, "{queued:?}");

    let plugins = PluginDir::with(&["music-sync"]);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut first = host(&redis, &plugins, "metrics")
        .args(&[
            "--plugin",
            "music-sync",
            "--metrics-addr",
            &addr,
            "--host-rate",
            "10000",
        ])
        .start();
    wait_until(
        MINUTE,
        || {
            let stats = stats(&redis);
            stats["done"] == 20 && stats["dead"] == 5
        },
        || format!("the jobs did not end: {}", first.log()),
    );
    // The counts reach the metrics as the outcomes are handed over.
    std::thread::sleep(Duration::from_millis(200));
    let (status, scraped) = scrape(port);
    assert!(status.contains("200"), "{status}");
    let plugin = [("plugin", "music-sync")];
    assert_eq!(
        value(&scraped, "jobhost_jobs_started_total", &[]),
        Some(25.0)
    );
    assert_eq!(
        value(&scraped, "jobhost_jobs_done_total", &plugin),
        Some(20.0)
    );
    assert_eq!(
        value(&scraped, "jobhost_jobs_dead_total", &plugin),
        Some(5.0)
    );
    assert_eq!(
        value(&scraped, "jobhost_job_duration_seconds", &plugin),
        Some(25.0)
    );
    assert_eq!(
        value(&scraped, "jobhost_fetch_duration_seconds", &[]),
        Some(25.0)
    );
    assert_eq!(
        value(&scraped, "jobhost_plugin_call_duration_seconds", &plugin),
        Some(25.0)
    );
    // Every job of this host made a fresh instance (or had one made ahead).
    assert!(
        value(&scraped, "jobhost_plugin_instantiation_seconds", &plugin)
            .is_some_and(|count| count >= 25.0),
        "instantiations counted"
    );
    // Politeness was on (--host-rate): its waits are counted per host.
    let fetched = format!("127.0.0.1:{}", server.addr.port());
    assert!(
        value(
            &scraped,
            "jobhost_politeness_wait_seconds_total",
            &[("host", fetched.as_str())]
        )
        .is_some(),
        "a politeness series for {fetched}"
    );
    // The queue's state, read from Redis at the scrape.
    for (state, want) in [
        ("ready", 0.0),
        ("in_flight", 0.0),
        ("delayed", 3.0),
        ("dead", 5.0),
    ] {
        assert_eq!(
            value(&scraped, "jobhost_queue_size", &[("state", state)]),
            Some(want),
            "{state}"
        );
    }
    assert_eq!(
        value(&scraped, "jobhost_queue_latency_seconds", &[]),
        Some(0.0)
    );
    // Exit status 1: some of its jobs are dead.
    first.signal("TERM");
    first.exits(1, MINUTE);

    // Slow jobs: a host that takes some and dies, so that their leases
    // lapse; a schedule that fires every second; and a host that takes one
    // job at a time, so that tasks wait ready.
    let slow: Vec<String> = (0..6)
        .map(|i| server.url(&format!("/slow/3000?{i}")))
        .collect();
    let queued = enqueue(&redis, &slow, &[]);
    assert_eq!(queued.code, 0, "{queued:?}");
    let mut doomed = host(&redis, &plugins, "doomed")
        .args(&[
            "--plugin",
            "music-sync",
            "--lease",
            "1s",
            "--concurrency",
            "1",
        ])
        .start();
    wait_until(
        MINUTE,
        || stats(&redis)["in_flight"].as_u64() >= Some(1),
        || format!("the doomed host took nothing: {}", doomed.log()),
    );
    doomed.signal("KILL");
    let _ = doomed.wait(MINUTE);
    let added = run(jobhost()
        .args([
            "schedule",
            "add",
            "tick",
            "--every",
            "1s",
            "--plugin",
            "music-sync",
        ])
        .args(["--task", &server.url("/slow/3000?tick")])
        .args(["--queue", &redis.url()]));
    assert_eq!(added.code, 0, "{added:?}");
    let mut busy = host(&redis, &plugins, "busy")
        .args(&[
            "--plugin",
            "music-sync",
            "--metrics-addr",
            &addr,
            "--concurrency",
            "1",
            "--lease",
            "1s",
        ])
        .start();
    let seen = std::cell::RefCell::new(Vec::new());
    wait_until(
        MINUTE,
        || {
            let Some(scraped) = std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| scrape(port).1)
            else {
                return false;
            };
            let number =
                |name: &str, labels: &[(&str, &str)]| value(&scraped, name, labels).unwrap_or(0.0);
            let now = (
                number("jobhost_queue_size", &[("state", "ready")]),
                number("jobhost_queue_latency_seconds", &[]),
                number("jobhost_leases_reclaimed_total", &[]),
                number("jobhost_schedule_fires_total", &[("schedule", "tick")]),
            );
            seen.borrow_mut().push(now);
            let (ready, latency, reclaimed, fires) = now;
            ready >= 1.0 && (1.0..60.0).contains(&latency) && reclaimed >= 1.0 && fires >= 1.0
        },
        || format!("never all at once: {:?}\n{}", seen.borrow(), busy.log()),
    );
    // The running job finishes within the grace time, and dies: /slow/
    // answers text, not a track.
    busy.signal("TERM");
    busy.exits(1, MINUTE);
}
