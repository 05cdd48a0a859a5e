//! The hostile-plugin suite: each misbehaviour fails its own job with an
//! error that names the limit, retries and dead letters behave as
//! configured, and jobs running beside it finish normally.

use serde_json::Value;

use crate::util::*;

/// Run one hostile chaos task among `n` well-behaved ones; returns the run
/// and the hostile job's dead letter (if it died).
fn beside_good_jobs(metadata: &str, extra: &[&str]) -> (Run, Option<Value>, tempfile::TempDir) {
    beside_good_jobs_in(jobhost(), metadata, extra)
}

/// [`beside_good_jobs`] with the jobhost command given.
fn beside_good_jobs_in(
    mut command: std::process::Command,
    metadata: &str,
    extra: &[&str],
) -> (Run, Option<Value>, tempfile::TempDir) {
    let plugins = PluginDir::with(&["chaos"]);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let mut lines = vec![format!(
        r#"{{"id":"hostile","payload":"x","plugin":"chaos","metadata":{metadata}}}"#
    )];
    for i in 0..12 {
        lines.push(format!(r#"{{"id":"good{i}","payload":"x","plugin":"chaos","metadata":{{"action":"busy","ms":"20"}}}}"#));
    }
    let (_input_dir, input) = input_file(&lines);
    let run = run(command
        .args(["run", "--concurrency", "3", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead)
        .args(extra));
    let good = run
        .records()
        .iter()
        .filter(|r| {
            r["task_id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("good")
        })
        .count();
    assert_eq!(good, 12, "the other jobs finished: {run:?}");
    let letter = std::fs::read_to_string(&dead)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["id"] == "hostile");
    (run, letter, dir)
}

fn error_of(letter: &Option<Value>) -> String {
    letter.as_ref().expect("the hostile job is dead")["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline() {
    let (run, letter, _dir) =
        beside_good_jobs(r#"{"action":"loop"}"#, &["--plugin-timeout", "300ms"]);
    assert_eq!(run.code, 1);
    let error = error_of(&letter);
    assert!(
        error.contains("deadline exceeded: the call ran longer than 300ms"),
        "{error}"
    );
    assert_eq!(letter.unwrap()["attempts"], 1, "a trap is not retried");
}

#[test]
fn an_endless_loop_is_stopped_by_fuel_when_asked() {
    let (_run, letter, _dir) = beside_good_jobs(
        r#"{"action":"loop"}"#,
        &["--fuel", "50000000", "--plugin-timeout", "60s"],
    );
    let error = error_of(&letter);
    assert!(
        error.contains("fuel exhausted: the call used more than 50000000 units (--fuel)"),
        "{error}"
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let (_run, letter, _dir) = beside_good_jobs(
        r#"{"action":"grow","mb":"500"}"#,
        &["--max-memory", "32MiB"],
    );
    let error = error_of(&letter);
    assert!(error.contains("memory limit exceeded"), "{error}");
    assert!(error.contains("the limit is 32 MiB"), "{error}");
}

#[test]
fn without_address_space_for_whole_index_space_slots_plugins_run_bounds_checked() {
    // 16 GiB of address space: too little for the 4 GiB slot of each of the
    // 12 memories that --concurrency 3 reserves, room enough for 64 MiB ones.
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -v 16777216 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_jobhost"))
        .env_remove("JOBHOST_LOG")
        .stdin(std::process::Stdio::null());
    let (run, letter, _dir) = beside_good_jobs_in(command, r#"{"action":"recurse"}"#, &[]);
    assert!(
        run.stderr
            .contains("using 64 MiB slots with bounds-checked code instead"),
        "{run:?}"
    );
    // The stack overflow still traps, caught by a bounds check this time.
    let error = error_of(&letter);
    assert!(error.contains("plugin chaos trapped"), "{error}");
}

#[test]
fn deep_recursion_traps_safely() {
    let (_run, letter, _dir) = beside_good_jobs(r#"{"action":"recurse"}"#, &[]);
    let error = error_of(&letter);
    assert!(error.contains("plugin chaos trapped"), "{error}");
    assert!(
        error.contains("recursion") || error.contains("stack"),
        "{error}"
    );
}

#[test]
fn huge_outputs_and_too_many_follow_ups_break_their_limits() {
    let (_run, letter, _dir) = beside_good_jobs(
        r#"{"action":"big-record","kb":"600"}"#,
        &["--max-output", "512KiB"],
    );
    let error = error_of(&letter);
    assert!(
        error.contains("output limit exceeded") && error.contains("--max-output"),
        "{error}"
    );
    let (_run, letter, _dir) = beside_good_jobs(
        r#"{"action":"many-follow-ups","count":"50"}"#,
        &["--max-follow-ups", "10"],
    );
    let error = error_of(&letter);
    assert!(
        error.contains(
            "follow-up limit exceeded: the plugin returned 50 follow-ups, the limit is 10"
        ),
        "{error}"
    );
}

#[test]
fn a_panic_is_a_permanent_failure_with_its_message() {
    let (_run, letter, _dir) = beside_good_jobs(
        r#"{"action":"panic","message":"hostile"}"#,
        &["--max-attempts", "3"],
    );
    let letter = letter.expect("dead");
    assert!(
        letter["error"]
            .as_str()
            .unwrap()
            .contains("chaos panic: hostile"),
        "{letter}"
    );
    assert_eq!(letter["attempts"], 1);
}

#[test]
fn a_plugin_cannot_read_files_the_environment_or_open_sockets() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let plugins = PluginDir::with(&["chaos"]);
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("secret.txt");
    std::fs::write(&secret, "do not read").unwrap();
    let run = run(jobhost()
        .env("JOBHOST_TEST_SECRET", "hunter2")
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .arg(r#"{"id":"passwd","payload":"x","plugin":"chaos","metadata":{"action":"read-file","path":"/etc/passwd"}}"#)
        .arg(format!(r#"{{"id":"secret","payload":"x","plugin":"chaos","metadata":{{"action":"read-file","path":"{}"}}}}"#, secret.display()))
        .arg(r#"{"id":"env","payload":"x","plugin":"chaos","metadata":{"action":"env"}}"#)
        .arg(format!(r#"{{"id":"socket","payload":"x","plugin":"chaos","metadata":{{"action":"socket","addr":"{addr}"}}}}"#)));
    assert_eq!(run.code, 0, "{run:?}");
    for id in ["passwd", "secret"] {
        let record = run.record_of(id);
        assert_eq!(record["ok"], false, "{id}: {record}");
    }
    let env = run.record_of("env");
    assert_eq!(env["vars"], serde_json::json!([]), "{env}");
    assert_eq!(env["args"], serde_json::json!([]), "{env}");
    let socket = run.record_of("socket");
    assert_eq!(socket["ok"], false, "{socket}");
    // Nothing reached the listener.
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the plugin connected to the host's network"
    );
}

#[test]
fn each_instance_draws_its_own_random_bytes_and_huge_requests_trap() {
    // jobhost serves wasi:random's get-random-bytes itself (one fill per
    // request, runtime/random.rs): the length asked for, from a secure
    // generator, different for every instance; over the limit, a trap.
    let plugins = PluginDir::with(&["chaos"]);
    let dead = plugins.path().join("dead.jsonl");
    let task = |id: &str, bytes: u64| {
        format!(
            r#"{{"id":"{id}","payload":"x","plugin":"chaos","metadata":{{"action":"random","bytes":"{bytes}"}}}}"#
        )
    };
    let run = run(jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead)
        .arg(task("a", 2496))
        .arg(task("b", 2496))
        .arg(task("empty", 0))
        .arg(task("huge", (64 << 20) + 1)));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("done 3, retried 0, dead 1"), "{run:?}");
    let (a, b) = (run.record_of("a"), run.record_of("b"));
    for record in [&a, &b] {
        assert_eq!(record["len"], 2496, "{record}");
        let hex = record["hex"].as_str().unwrap();
        assert_eq!(hex.len(), 2 * 2496, "{record}");
        // 2,496 secure random bytes take nearly all 256 values; a
        // constant or a short repeated pattern would not.
        let mut seen = std::collections::HashSet::new();
        for i in (0..hex.len()).step_by(2) {
            seen.insert(&hex[i..i + 2]);
        }
        assert!(seen.len() > 200, "{} distinct byte values", seen.len());
    }
    assert_ne!(a["hex"], b["hex"], "two instances drew the same bytes");
    assert_eq!(run.record_of("empty")["len"], 0);
    let letters = read_dead_letters(&dead);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let error = letters[0]["error"].as_str().unwrap();
    assert!(error.contains("plugin chaos trapped"), "{error}");
    assert!(
        error.contains("requested len 67108865 exceeds limit 67108864"),
        "{error}"
    );
}

#[test]
fn outbound_http_goes_only_to_hosts_allowed_for_the_plugin() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["chaos"]);
    let target = server.url("/chaos/outbound");
    let task = format!(
        r#"{{"id":"out","payload":"x","plugin":"chaos","metadata":{{"action":"http","url":"{target}"}}}}"#
    );
    let authority = server.addr.to_string();

    let denied = run(jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .arg(&task));
    assert_eq!(denied.code, 0, "{denied:?}");
    let record = &denied.record_values()[0];
    assert_eq!(record["ok"], false, "{record}");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied"),
        "{record}"
    );
    assert!(
        denied.stderr.contains(&format!("outbound request to {authority} denied: allow it with --allow-outbound chaos={authority}")),
        "{denied:?}"
    );
    assert_eq!(server.hits("/chaos/outbound"), 0);

    // Allowed for another plugin only: still denied.
    let other = run(jobhost()
        .args([
            "run",
            "--allow-outbound",
            &format!("links={authority}"),
            "--plugins",
        ])
        .arg(plugins.path())
        .arg(&task));
    assert_eq!(other.record_values()[0]["ok"], false, "{other:?}");

    let allowed = run(jobhost()
        .args([
            "run",
            "--allow-outbound",
            &format!("chaos={authority}"),
            "--plugins",
        ])
        .arg(plugins.path())
        .arg(&task));
    let record = &allowed.record_values()[0];
    assert_eq!(record["ok"], true, "{allowed:?}");
    assert_eq!(record["status"], 200);
    assert_eq!(record["body"], "chaos outbound");
    assert_eq!(server.hits("/chaos/outbound"), 1);
}

#[test]
fn a_chatty_plugin_is_not_broken_by_its_own_printing() {
    let plugins = PluginDir::with(&["chaos"]);
    let run = run(jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .arg(r#"{"id":"chatty","payload":"x","plugin":"chaos","metadata":{"action":"print","kb":"2048"}}"#));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.records().len(), 1);
}

#[test]
fn instances_are_fresh_per_job_unless_reuse_is_asked_for_and_a_trap_ends_reuse() {
    let plugins = PluginDir::with(&["chaos"]);
    let line = |id: &str, action: &str| {
        format!(
            r#"{{"id":"{id}","payload":"x","plugin":"chaos","metadata":{{"action":"{action}"}}}}"#
        )
    };
    let calls = |run: &Run| -> Vec<u64> {
        let mut records = run.records();
        records.sort_by_key(|r| r["task_id"].as_str().unwrap().to_owned());
        records
            .iter()
            .map(|r| r["record"]["calls"].as_u64().unwrap())
            .collect()
    };
    let lines: Vec<String> = (0..7).map(|i| line(&format!("s{i}"), "static")).collect();
    let (_dir, input) = input_file(&lines);
    let fresh = run(jobhost()
        .args(["run", "--concurrency", "1", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(
        calls(&fresh),
        vec![1; 7],
        "nothing survives between jobs by default: {fresh:?}"
    );

    let reused = run(jobhost()
        .args([
            "run",
            "--concurrency",
            "1",
            "--reuse-instances",
            "chaos=3",
            "--input",
        ])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(calls(&reused), vec![1, 2, 3, 1, 2, 3, 1], "{reused:?}");

    let (_dir, input) = input_file(&[
        line("a", "static"),
        line("b", "static"),
        line("c", "trap"),
        line("d", "static"),
    ]);
    let trapped = run(jobhost()
        .args([
            "run",
            "--concurrency",
            "1",
            "--reuse-instances",
            "chaos=10",
            "--input",
        ])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(trapped.code, 1);
    assert_eq!(
        calls(&trapped),
        vec![1, 2, 1],
        "the instance that trapped was dropped: {trapped:?}"
    );
}

#[test]
fn a_plugin_may_ask_for_its_own_limits_within_the_operator_maximums() {
    // chaos-v2 asks for a 300 ms deadline and 16 MiB of memory.
    let plugins = PluginDir::with(&["chaos-v2"]);
    let task = |action: &str| {
        format!(
            r#"{{"id":"{action}","payload":"x","plugin":"chaos","metadata":{{"action":"{action}","mb":"40"}}}}"#
        )
    };
    let asked = run(jobhost()
        .args(["run", "--plugin-timeout", "5s", "--plugins"])
        .arg(plugins.path())
        .arg(task("loop"))
        .arg(task("grow")));
    assert!(
        asked.stderr.contains("ran longer than 300ms"),
        "the plugin's own deadline: {asked:?}"
    );
    assert!(
        asked.stderr.contains("the limit is 16 MiB"),
        "the plugin's own memory: {asked:?}"
    );
    let capped = run(jobhost()
        .args([
            "run",
            "--plugin-timeout",
            "50ms",
            "--max-plugin-timeout",
            "100ms",
            "--max-memory",
            "8MiB",
            "--plugins",
        ])
        .arg(plugins.path())
        .arg(task("loop"))
        .arg(task("grow")));
    assert!(
        capped.stderr.contains("ran longer than 100ms"),
        "capped at the operator maximum: {capped:?}"
    );
    assert!(
        capped.stderr.contains("the limit is 8 MiB"),
        "never more than --max-memory: {capped:?}"
    );
}
