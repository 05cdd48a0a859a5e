//! Fetch failures and retries: 5xx retried then dead-lettered, Retry-After,
//! size limit, timeouts, redirect loops, plugin retries and failures.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

#[test]
fn server_errors_are_retried_then_dead_lettered_with_attempts_counted() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["template"]);
    let dead = plugins.path().join("dead.jsonl");
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--max-attempts",
            "3",
            "--retry-delay",
            "20ms",
        ])
        .arg(server.url("/status/503"))
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(server.hits("/status/503"), 3, "{run:?}");
    let letters = read_dead_letters(&dead);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["attempts"], 3);
    let error = letters[0]["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 503") && error.contains("gave up after 3 attempts"),
        "{error}"
    );
    assert!(run.stderr.contains("done 0, retried 2, dead 1"), "{run:?}");

    // The dead letters are valid input: run them again (still failing).
    let again = crate::util::run(
        jobhost()
            .args([
                "run",
                "--plugin",
                "template",
                "--max-attempts",
                "1",
                "--input",
            ])
            .arg(&dead)
            .arg("--plugins")
            .arg(plugins.path()),
    );
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("invalid input 0"), "{again:?}");
    assert_eq!(server.hits("/status/503"), 4);
}

#[test]
fn retry_after_is_respected() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["template"]);
    let started = Instant::now();
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--max-attempts",
            "2",
            "--retry-delay",
            "1ms",
        ])
        .arg(server.url("/retry-after/1"))
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(server.hits("/retry-after/1"), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After"
    );
}

#[test]
fn client_errors_go_to_the_plugin_not_the_retry_loop() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["template"]);
    let run = run(jobhost()
        .args(["run", "--plugin", "template", "--retry-delay", "1ms"])
        .arg(server.url("/status/404"))
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.record_values()[0]["status"], 404);
    assert_eq!(server.hits("/status/404"), 1);
}

#[test]
fn bodies_over_the_limit_are_cut_off_and_not_retried() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["template"]);
    let small = server.url("/big/4096");
    let large = server.url("/big/200000");
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--max-body",
            "10KiB",
            &small,
            &large,
            "--plugins",
        ])
        .arg(plugins.path()));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("exceeds the limit of 10240 bytes"),
        "{run:?}"
    );
    assert_eq!(server.hits("/big/200000"), 1, "a size failure is permanent");
    let records = run.record_values();
    assert_eq!(records.len(), 1, "{run:?}");
    assert_eq!(records[0]["bytes"], 4096);
}

#[test]
fn fetch_timeouts_are_transient() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["template"]);
    let started = Instant::now();
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--fetch-timeout",
            "300ms",
            "--max-attempts",
            "2",
            "--retry-delay",
            "10ms",
        ])
        .arg(server.url("/slow/5000"))
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("timed out after 300ms"), "{run:?}");
    assert_eq!(server.hits("/slow/5000"), 2);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait for the slow server"
    );
}

#[test]
fn redirect_loops_stop_at_the_limit() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["template"]);
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--max-redirects",
            "3",
            "--max-attempts",
            "1",
        ])
        .arg(server.url("/redirect/0"))
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("too many redirects"), "{run:?}");
    assert_eq!(server.hits("/redirect/3"), 1);
    assert_eq!(server.hits("/redirect/4"), 0);
}

#[test]
fn plugin_retries_succeed_and_plugin_failures_are_permanent() {
    let plugins = PluginDir::with(&["chaos"]);
    let dead = plugins.path().join("dead.jsonl");
    let run = run(jobhost()
        .args([
            "run",
            "--retry-delay",
            "10ms",
            "--max-attempts",
            "5",
            r#"{"id":"flaky","payload":"x","plugin":"chaos","metadata":{"action":"retry-until","succeed_at":"3"}}"#,
            r#"{"id":"broken","payload":"x","plugin":"chaos","metadata":{"action":"fail","message":"bad input"}}"#,
            "--plugins",
        ])
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead));
    assert_eq!(run.code, 1, "{run:?}");
    let records = run.record_values();
    assert_eq!(records.len(), 1, "{run:?}");
    assert_eq!(records[0]["attempt"], 3);
    let letters = read_dead_letters(&dead);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["id"], "broken");
    assert_eq!(letters[0]["attempts"], 1);
    assert_eq!(letters[0]["error"], "plugin chaos failed: bad input");
    assert!(run.stderr.contains("done 1, retried 2, dead 1"), "{run:?}");
}

#[test]
fn connection_errors_are_retried_then_dead() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let plugins = PluginDir::with(&["template"]);
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--max-attempts",
            "2",
            "--retry-delay",
            "10ms",
        ])
        .arg(format!("http://127.0.0.1:{port}/nothing"))
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("network error fetching"), "{run:?}");
    assert!(run.stderr.contains("gave up after 2 attempts"), "{run:?}");
    assert!(run.stderr.contains("retried 1, dead 1"), "{run:?}");
}

#[test]
fn records_go_to_the_output_file_when_asked() {
    let plugins = PluginDir::with(&["chaos"]);
    let out = plugins.path().join("out.jsonl");
    let run = run(jobhost()
        .args([
            "run",
            r#"{"id":"many","payload":"x","plugin":"chaos","metadata":{"action":"records","count":"3"}}"#,
            "--plugins",
        ])
        .arg(plugins.path())
        .arg("--output")
        .arg(&out));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ns: Vec<&Value> = lines.iter().map(|l| &l["record"]["n"]).collect();
    assert_eq!(ns, [0, 1, 2], "records in order: {lines:?}");
    assert!(lines
        .iter()
        .all(|l| l["task_id"] == "many" && l["plugin"] == "chaos"));
}
