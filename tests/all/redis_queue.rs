//! The Redis backend against real redis-server processes: sharing, crashes,
//! leases, restarts, retries and dead letters, delays, the seed's lists,
//! graceful shutdown, bad entries, and the Redis key-value store and sink.

use std::time::{Duration, Instant};

use crate::redis_util::*;
use crate::util::*;

const LEASE: &str = "1s";

#[test]
fn three_workers_share_10000_jobs_none_lost_none_done_twice() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    let queued = enqueue(&redis, &chaos_tasks("j", 10_000, "{}"), &[]);
    assert_eq!(queued.code, 0, "{queued:?}");
    assert!(
        queued.stderr.contains("enqueued 10000 of 10000"),
        "{queued:?}"
    );
    let started = Instant::now();
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| {
            host(&redis, &plugins, &format!("w{i}"))
                .until_empty()
                .args(&["--lease", LEASE])
                .start()
        })
        .collect();
    for worker in &mut workers {
        worker.exits(0, Duration::from_secs(120));
    }
    let elapsed = started.elapsed();
    let counts = counts(&workers.iter().collect::<Vec<_>>());
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert_eq!(counts.len(), 10_000, "every job done");
    assert!(twice.is_empty(), "done twice: {twice:?}");
    for worker in &workers {
        assert!(!worker.task_ids().is_empty(), "every worker took a share");
    }
    let stats = stats(&redis);
    assert_eq!(
        (
            stats["done"].as_u64(),
            stats["ready"].as_u64(),
            stats["in_flight"].as_u64()
        ),
        (Some(10_000), Some(0), Some(0))
    );
    eprintln!(
        "3 workers, 10000 jobs in {elapsed:.2?}; shares {:?}",
        workers
            .iter()
            .map(|w| w.task_ids().len())
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_sigkilled_worker_loses_nothing_and_its_jobs_come_back_within_the_lease() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    // About 2.5 s of work for 12 slots, so the kill lands mid-run on any
    // machine.
    let total = 600;
    enqueue(
        &redis,
        &chaos_tasks("k", total, r#"{"action":"busy","ms":"50"}"#),
        &[],
    );
    let args = ["--until-empty", "--lease", LEASE, "--concurrency", "4"];
    let mut victim = host(&redis, &plugins, "victim").args(&args).start();
    let mut a = host(&redis, &plugins, "a").args(&args).start();
    let mut b = host(&redis, &plugins, "b").args(&args).start();
    // Let the victim take jobs, then kill it without a chance to clean up.
    std::thread::sleep(Duration::from_millis(1200));
    let held_before = stats(&redis)["in_flight"].as_u64().unwrap_or(0);
    victim.signal("KILL");
    let killed_at = Instant::now();
    let killed_at_wall = seconds_of_day_now();
    victim.wait(Duration::from_secs(10));
    a.exits(0, Duration::from_secs(120));
    b.exits(0, Duration::from_secs(120));
    let finished_after_kill = killed_at.elapsed();

    let counts = counts(&[&victim, &a, &b]);
    assert_eq!(counts.len(), total, "every job ended done");
    let stats = stats(&redis);
    assert_eq!(stats["dead"].as_u64(), Some(0));
    assert_eq!(stats["in_flight"].as_u64(), Some(0));
    let recovered = a
        .log()
        .matches("recovered a job whose lease lapsed")
        .count()
        + b.log()
            .matches("recovered a job whose lease lapsed")
            .count();
    assert!(
        recovered > 0,
        "the victim's jobs were taken over:\n{}\n{}",
        a.log(),
        b.log()
    );
    // The first recovery happened within the lease (1 s) plus one reclaim
    // period (0.5 s), with some slack for a loaded machine.
    let logs = a.log() + &b.log();
    let first_recovery = logs
        .lines()
        .filter(|l| l.contains("recovered a job whose lease lapsed"))
        .filter_map(log_seconds_of_day)
        .fold(f64::INFINITY, f64::min);
    let came_back_after = (first_recovery - killed_at_wall).rem_euclid(86_400.0);
    assert!(
        came_back_after < 3.0,
        "the victim's jobs came back {came_back_after:.2} s after the kill"
    );
    let repeated = counts.values().filter(|&&n| n > 1).count();
    eprintln!(
        "crash test: {total} jobs, {} done once, {repeated} recorded twice (victim wrote before its ack), \
         {recovered} recovered after the kill (first {came_back_after:.2} s after it, lease 1 s), \
         in flight at kill time {held_before}, all finished {finished_after_kill:.2?} after the kill",
        counts.values().filter(|&&n| n == 1).count()
    );
}

/// Seconds since midnight UTC, now.
fn seconds_of_day_now() -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    now.rem_euclid(86_400.0)
}

/// Seconds since midnight UTC of a log line (`2026-11-25T23:33:15.463997Z ...`).
fn log_seconds_of_day(line: &str) -> Option<f64> {
    let time = line
        .split_whitespace()
        .next()?
        .split_once('T')?
        .1
        .strip_suffix('Z')?;
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

#[test]
fn a_job_longer_than_the_lease_is_not_delivered_twice_while_its_host_lives() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &chaos_tasks("long", 1, r#"{"action":"busy","ms":"3500"}"#),
        &[],
    );
    // One thread: the busy job shares it with the queue's heartbeat, which
    // must still renew the lease while the plugin runs.
    let args = [
        "--until-empty",
        "--lease",
        LEASE,
        "--plugin-timeout",
        "20s",
        "--threads",
        "1",
    ];
    let mut a = host(&redis, &plugins, "a").args(&args).start();
    std::thread::sleep(Duration::from_millis(300));
    let mut b = host(&redis, &plugins, "b").args(&args).start();
    a.exits(0, Duration::from_secs(60));
    b.exits(0, Duration::from_secs(60));
    let counts = counts(&[&a, &b]);
    assert_eq!(counts.get("long0"), Some(&1), "{counts:?}");
    for worker in [&a, &b] {
        assert!(!worker.log().contains("recovered"), "{}", worker.log());
        assert!(!worker.log().contains("lease lost"), "{}", worker.log());
    }
}

#[test]
fn a_redis_restart_mid_run_loses_nothing() {
    let mut redis = RedisServer::start(true);
    let plugins = PluginDir::with(&["chaos"]);
    // About 2 s of work for 8 slots, so Redis dies mid-run on any machine.
    let total = 3000;
    enqueue(
        &redis,
        &chaos_tasks("r", total, r#"{"action":"busy","ms":"5"}"#),
        &[],
    );
    let args = ["--until-empty", "--lease", LEASE, "--concurrency", "4"];
    let mut a = host(&redis, &plugins, "a").args(&args).start();
    let mut b = host(&redis, &plugins, "b").args(&args).start();
    std::thread::sleep(Duration::from_millis(500));
    redis.kill();
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    a.exits(0, Duration::from_secs(120));
    b.exits(0, Duration::from_secs(120));
    let counts = counts(&[&a, &b]);
    assert_eq!(counts.len(), total, "every job done after the restart");
    let stats = stats(&redis);
    assert_eq!(
        (
            stats["dead"].as_u64(),
            stats["in_flight"].as_u64(),
            stats["ready"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    let logs = a.log() + &b.log();
    assert!(
        logs.contains("is unavailable"),
        "the outage was logged:\n{logs}"
    );
    assert!(
        logs.contains("is reachable again"),
        "the recovery was logged:\n{logs}"
    );
}

#[test]
fn retries_then_dead_letters_then_dead_retry() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &[
            r#"{"id":"flaky","payload":"x","plugin":"chaos","metadata":{"action":"retry-until","succeed_at":"2"}}"#.to_owned(),
            r#"{"id":"hopeless","payload":"x","plugin":"chaos","metadata":{"action":"retry","message":"still broken"}}"#.to_owned(),
        ],
        &[],
    );
    let base = ["--until-empty", "--lease", LEASE, "--retry-delay", "20ms"];
    let mut first = host(&redis, &plugins, "first")
        .args(&[&base[..], &["--max-attempts", "1"]].concat())
        .start();
    assert_eq!(
        first.wait(Duration::from_secs(60)),
        1,
        "dead jobs make the exit status 1: {}",
        first.log()
    );
    let dead = dead_list(&redis);
    assert_eq!(dead.len(), 2, "{dead:?}");
    let hopeless = dead
        .iter()
        .find(|d| d["id"] == "hopeless")
        .expect("hopeless is dead");
    assert_eq!(hopeless["attempts"], 1);
    assert!(
        hopeless["error"].as_str().unwrap().contains("still broken"),
        "{hopeless}"
    );

    let retried = run(jobhost().args(["dead", "retry", "flaky", "--queue", &redis.url()]));
    assert_eq!(retried.code, 0, "{retried:?}");
    assert!(
        retried.stderr.contains("1 dead letters back on the queue"),
        "{retried:?}"
    );
    let s = stats(&redis);
    assert_eq!(
        (s["dead"].as_u64(), s["ready"].as_u64()),
        (Some(1), Some(1))
    );

    let second = host(&redis, &plugins, "second")
        .args(&[&base[..], &["--max-attempts", "3"]].concat())
        .finish(0);
    let records = second.records();
    assert_eq!(records.len(), 1, "{}", second.log());
    assert_eq!(records[0]["task_id"], "flaky");
    // Attempts were reset by `dead retry`: it failed once more, then succeeded.
    assert_eq!(records[0]["record"]["attempt"], 2);

    let purged = run(jobhost().args(["dead", "purge", "--queue", &redis.url()]));
    assert!(
        purged.stderr.contains("purged 1 dead letters"),
        "{purged:?}"
    );
    assert!(dead_list(&redis).is_empty());
}

/// `dead:PLUGIN` counts the plugin a job was routed to, not only the one a
/// task named (a task routed by `--plugin` used to count nowhere).
#[test]
fn dead_jobs_count_for_the_plugin_they_were_routed_to() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &[
            r#"{"id":"routed","payload":"x","metadata":{"action":"fail"}}"#.to_owned(),
            r#"{"id":"named","payload":"x","plugin":"chaos","metadata":{"action":"fail"}}"#
                .to_owned(),
        ],
        &[],
    );
    let host = host(&redis, &plugins, "host")
        .until_empty()
        .args(&["--lease", LEASE, "--plugin", "chaos"])
        .finish(1);
    let s = stats(&redis);
    assert_eq!(s["dead"].as_u64(), Some(2), "{s}");
    assert_eq!(
        s["plugins"]["chaos"]["dead"].as_u64(),
        Some(2),
        "{s}\n{}",
        host.log()
    );
}

#[test]
fn delayed_jobs_are_not_run_early() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    let enqueued_at = Instant::now();
    let queued = enqueue(
        &redis,
        &chaos_tasks("later", 1, "{}"),
        &["--delay", "1500ms"],
    );
    assert_eq!(queued.code, 0, "{queued:?}");
    let s = stats(&redis);
    assert_eq!(
        (s["delayed"].as_u64(), s["ready"].as_u64()),
        (Some(1), Some(0))
    );
    let mut worker = host(&redis, &plugins, "w").until_empty().start();
    std::thread::sleep(Duration::from_millis(700));
    assert!(worker.task_ids().is_empty(), "ran before its time");
    worker.exits(0, Duration::from_secs(30));
    assert!(enqueued_at.elapsed() >= Duration::from_millis(1500));
    assert_eq!(worker.task_ids(), vec!["later0"]);
}

#[test]
fn seed_style_rpush_of_bare_urls_is_consumed() {
    let redis = RedisServer::start(false);
    let server = TestServer::start();
    let plugins = PluginDir::with(&["chaos"]);
    let mut conn = redis.conn();
    for i in 0..50 {
        let _: i64 = redis::cmd("RPUSH")
            .arg("music_task_queue")
            .arg(server.url(&format!("/chaos/{i}")))
            .query(&mut conn)
            .unwrap();
    }
    let _: i64 = redis::cmd("RPUSH")
        .arg("music_task_queue")
        .arg("not a url")
        .query(&mut conn)
        .unwrap();
    let mut worker = host(&redis, &plugins, "w")
        .until_empty()
        .args(&["--redis-list", "music_task_queue"])
        .start();
    assert_eq!(
        worker.wait(Duration::from_secs(60)),
        1,
        "one bad line is dead: {}",
        worker.log()
    );
    assert_eq!(worker.task_ids().len(), 50, "{}", worker.log());
    for i in 0..50 {
        assert_eq!(server.hits(&format!("/chaos/{i}")), 1);
    }
    let left: i64 = redis::cmd("LLEN")
        .arg("music_task_queue")
        .query(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
    let dead = dead_list(&redis);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["raw"], "not a url");
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap()
            .contains("invalid task in the queue"),
        "{dead:?}"
    );
}

#[test]
fn graceful_shutdown_hands_jobs_back_at_once() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &chaos_tasks("g", 6, r#"{"action":"busy","ms":"2500"}"#),
        &[],
    );
    // A long lease: if the jobs were not handed back, nobody could take them
    // for 60 seconds. Two threads of one worker each: two consumers, and
    // each must hand its job back.
    let mut a = host(&redis, &plugins, "a")
        .args(&[
            "--lease",
            "60s",
            "--threads",
            "2",
            "--concurrency",
            "2",
            "--grace",
            "200ms",
            "--plugin-timeout",
            "20s",
        ])
        .start();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(stats(&redis)["in_flight"].as_u64().unwrap_or(0) >= 2);
    let stopping = Instant::now();
    a.signal("TERM");
    a.wait(Duration::from_secs(10));
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped after the grace period"
    );
    assert!(a.log().contains("handed"), "{}", a.log());
    let s = stats(&redis);
    assert_eq!(
        (
            s["in_flight"].as_u64(),
            s["ready"].as_u64(),
            s["done"].as_u64()
        ),
        (Some(0), Some(6), Some(0)),
        "{}",
        a.log()
    );

    let started = Instant::now();
    let b = host(&redis, &plugins, "b")
        .until_empty()
        .args(&[
            "--lease",
            "60s",
            "--concurrency",
            "6",
            "--plugin-timeout",
            "20s",
        ])
        .finish(0);
    assert_eq!(b.task_ids().len(), 6);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "taken at once, not after the lease"
    );
}

#[test]
fn bad_entries_in_the_queue_are_dead_lettered_and_the_worker_goes_on() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(&redis, &chaos_tasks("fine", 3, "{}"), &[]);
    let mut conn = redis.conn();
    for body in ["{not json", r#"{"id":"no-url"}"#] {
        let _: String = redis::cmd("XADD")
            .arg("jobhost:{jobs}:stream")
            .arg("*")
            .arg("task")
            .arg(body)
            .query(&mut conn)
            .unwrap();
    }
    let worker = host(&redis, &plugins, "w").until_empty().finish(1);
    assert_eq!(worker.task_ids().len(), 3);
    let dead = dead_list(&redis);
    assert_eq!(dead.len(), 2, "{dead:?}");
    for letter in &dead {
        assert!(
            letter["error"]
                .as_str()
                .unwrap()
                .contains("invalid task JSON in the queue"),
            "{letter}"
        );
    }
}

#[test]
fn a_poison_job_that_keeps_killing_its_host_is_dead_lettered() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &chaos_tasks("poison", 1, r#"{"action":"busy","ms":"10000"}"#),
        &[],
    );
    let args = [
        "--until-empty",
        "--lease",
        "500ms",
        "--max-deliveries",
        "2",
        "--plugin-timeout",
        "30s",
    ];
    for round in 0..2 {
        let mut host = host(&redis, &plugins, &format!("h{round}"))
            .args(&args)
            .start();
        // Wait until this host holds the job (its lease must lapse first
        // after the previous host died), then kill it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !host.log().contains("joined queue") || stats(&redis)["in_flight"].as_u64() != Some(1)
        {
            assert!(Instant::now() < deadline, "host {round} never took the job");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        host.signal("KILL");
        host.wait(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(600));
    }
    let mut last = host(&redis, &plugins, "last").args(&args).start();
    last.exits(0, Duration::from_secs(30));
    let dead = dead_list(&redis);
    assert_eq!(dead.len(), 1, "{dead:?}\n{}", last.log());
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap()
            .contains("delivered 3 times"),
        "{dead:?}"
    );
    assert_eq!(dead[0]["id"], "poison0");
}

#[test]
fn key_value_writes_are_applied_with_the_ack_so_retried_attempts_leave_none() {
    // 30 jobs, each setting `attempt:<id>` and adding 1 to `adds`, then
    // retrying until its third attempt, on two hosts. The writes travel
    // with the acknowledgement: the counter is exactly 30 (immediate writes
    // would give 90) and each mark holds the attempt that succeeded.
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &chaos_tasks("add", 30, r#"{"action":"kv-add","succeed_at":"3"}"#),
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let args = ["--until-empty", "--retry-delay", "10ms"];
    let mut hosts: Vec<Worker> = (0..2)
        .map(|h| {
            host(&redis, &plugins, &format!("h{h}"))
                .dir(dir.path())
                .args(&args)
                .start()
        })
        .collect();
    for host in &mut hosts {
        host.exits(0, Duration::from_secs(60));
    }
    let mut conn = redis.conn();
    let adds: String = redis::cmd("GET")
        .arg("jobhost:kv:chaos:adds")
        .query(&mut conn)
        .unwrap();
    assert_eq!(adds, "30");
    for i in 0..30 {
        let mark: String = redis::cmd("GET")
            .arg(format!("jobhost:kv:chaos:attempt:add{i}"))
            .query(&mut conn)
            .unwrap();
        assert_eq!(mark, "3", "task add{i}");
    }
    let records: Vec<serde_json::Value> = hosts.iter().flat_map(Worker::records).collect();
    assert_eq!(records.len(), 30);
    let stats = stats(&redis);
    assert_eq!(stats["done"].as_u64(), Some(30), "{stats}");
    assert_eq!(stats["retried"].as_u64(), Some(60), "{stats}");
}

#[test]
fn an_add_that_redis_refuses_at_the_ack_is_left_out_with_a_warning_and_the_job_is_done() {
    // The job cannot tell that `notnum` holds text: its add fails only in
    // ack.lua. That must not fail the acknowledgement (or the batch): the
    // job is done, its other write applied, the add left out and logged.
    let redis = RedisServer::start(false);
    let mut conn = redis.conn();
    let _: () = redis::cmd("SET")
        .arg("jobhost:kv:chaos:notnum")
        .arg("abc")
        .query(&mut conn)
        .unwrap();
    let plugins = PluginDir::with(&["chaos"]);
    let mut tasks = chaos_tasks(
        "bad",
        1,
        r#"{"action":"kv-add","key":"notnum","read":"no"}"#,
    );
    tasks.extend(chaos_tasks(
        "good",
        5,
        r#"{"action":"kv-add","key":"fine","read":"no"}"#,
    ));
    enqueue(&redis, &tasks, &[]);
    let dir = tempfile::tempdir().unwrap();
    let host = host(&redis, &plugins, "h")
        .dir(dir.path())
        .until_empty()
        .finish(0);
    let get = |key: &str| -> Option<String> {
        redis::cmd("GET")
            .arg(format!("jobhost:kv:chaos:{key}"))
            .query(&mut redis.conn())
            .unwrap()
    };
    assert_eq!(get("notnum").as_deref(), Some("abc"));
    assert_eq!(get("attempt:bad0").as_deref(), Some("1"));
    assert_eq!(get("fine").as_deref(), Some("5"));
    let stats = stats(&redis);
    assert_eq!(stats["done"].as_u64(), Some(6), "{stats}");
    let log = host.log();
    assert!(
        log.lines()
            .any(|l| l.contains("bad0") && l.contains("1 add(s) left out")),
        "{log}"
    );
}

#[test]
fn increment_applies_the_jobs_pending_writes_to_its_key_first_and_only_once() {
    // add(k, 1) then increment(k, 10): the add reaches Redis before the
    // increment (the answer is 11), and is not applied again with the ack.
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &chaos_tasks(
            "inc",
            1,
            r#"{"action":"kv-add","key":"k","increment":"10"}"#,
        ),
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let host = host(&redis, &plugins, "h")
        .dir(dir.path())
        .until_empty()
        .finish(0);
    let records = host.records();
    assert_eq!(records.len(), 1, "{}", host.log());
    assert_eq!(records[0]["record"]["incremented"], 11, "{records:?}");
    let k: String = redis::cmd("GET")
        .arg("jobhost:kv:chaos:k")
        .query(&mut redis.conn())
        .unwrap();
    assert_eq!(k, "11");
}

#[test]
fn plugins_share_a_redis_key_value_store_and_records_can_go_to_a_stream() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &chaos_tasks("kv", 20, r#"{"action":"kv","key":"hits"}"#),
        &[],
    );
    // Two hosts with the stream as their only sink (Worker::start would add
    // an output file).
    let hosts: Vec<_> = (0..2)
        .map(|_| {
            jobhost()
                .args(["run", "--queue", &redis.url(), "--plugins"])
                .arg(plugins.path())
                .args(["--until-empty", "--output", "redis-stream:records"])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut host in hosts {
        assert!(host.wait().unwrap().success());
    }
    let mut conn = redis.conn();
    let hits: String = redis::cmd("GET")
        .arg("jobhost:kv:chaos:hits")
        .query(&mut conn)
        .unwrap();
    assert_eq!(hits, "20");
    let entries: redis::Value = redis::cmd("XRANGE")
        .arg("records")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let redis::Value::Array(entries) = entries else {
        panic!("no stream")
    };
    assert_eq!(entries.len(), 20);
    let mut values: Vec<i64> = entries
        .into_iter()
        .map(|entry| {
            let redis::Value::Array(parts) = entry else {
                panic!()
            };
            let redis::Value::Array(fields) = &parts[1] else {
                panic!()
            };
            let pos = fields
                .iter()
                .position(|f| matches!(f, redis::Value::BulkString(b) if b == b"record"))
                .unwrap();
            let redis::Value::BulkString(record) = &fields[pos + 1] else {
                panic!()
            };
            serde_json::from_slice::<serde_json::Value>(record).unwrap()["value"]
                .as_i64()
                .unwrap()
        })
        .collect();
    values.sort();
    assert_eq!(
        values,
        (1..=20).collect::<Vec<_>>(),
        "every increment seen once across two hosts"
    );
}

#[test]
fn an_unreachable_redis_is_a_clear_configuration_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let plugins = PluginDir::with(&["chaos"]);
    let run = run(jobhost()
        .args([
            "run",
            "--queue",
            &format!("redis://127.0.0.1:{port}"),
            "--plugins",
        ])
        .arg(plugins.path()));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "cannot connect to Redis at redis://127.0.0.1:{port}"
        )),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("is redis-server running there?"),
        "{run:?}"
    );
    let bad = crate::util::run(jobhost().args(["stats", "--queue", "http://nope"]));
    assert_eq!(bad.code, 2, "{bad:?}");
}

/// Calls of Lua scripts by `EVALSHA` (and `EVAL`) since the last reset.
fn script_calls(redis: &RedisServer) -> u64 {
    let mut conn = redis.conn();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn)
        .expect("INFO commandstats");
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[test]
fn acknowledgements_are_group_committed_and_ack_batch_1_turns_that_off() {
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    let jobs = 2000;
    let mut calls = Vec::new();
    for (round, batch) in ["256", "1"].into_iter().enumerate() {
        enqueue(&redis, &chaos_tasks(&format!("b{round}-"), jobs, "{}"), &[]);
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut redis.conn())
            .expect("CONFIG RESETSTAT");
        let mut worker = host(&redis, &plugins, &format!("batch-{batch}"))
            .until_empty()
            .args(&["--concurrency", "64", "--ack-batch", batch])
            .start();
        worker.exits(0, Duration::from_secs(120));
        let ids = worker.task_ids();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!((ids.len(), distinct.len()), (jobs, jobs), "each job once");
        calls.push(script_calls(&redis));
    }
    let stats = stats(&redis);
    assert_eq!(stats["done"].as_u64(), Some(2 * jobs as u64));
    assert_eq!(stats["in_flight"].as_u64(), Some(0));
    // Every script call counts (acks, and the heartbeat, promoter and
    // reclaimer ticking in the background): one call per job at least with
    // batches of 1, far fewer with batches.
    let (batched, single) = (calls[0], calls[1]);
    assert!(
        single >= jobs as u64,
        "--ack-batch 1: {single} script calls"
    );
    assert!(
        batched < (jobs as u64) * 3 / 4,
        "{batched} script calls for {jobs} jobs: acks were not batched"
    );
    eprintln!("{jobs} jobs: {batched} script calls with batches, {single} with --ack-batch 1");

    let bad = run(jobhost()
        .args([
            "run",
            "--queue",
            &redis.url(),
            "--ack-batch",
            "0",
            "--plugins",
        ])
        .arg(plugins.path()));
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--ack-batch"), "{bad:?}");
}

#[test]
fn a_job_taken_over_mid_run_is_refused_at_the_ack_while_its_batch_mates_are_done() {
    // Three jobs run at once on one host, each busy for 1.5 s before its
    // key-value writes. Mid-run, another consumer takes one of them over
    // (XCLAIM, as a host that reclaimed a lapsed lease would). The three
    // finish together, so their acknowledgements travel in one batch: the
    // taken one must be refused (none of its writes applied, still pending
    // for its new owner) and the other two done with their writes.
    let redis = RedisServer::start(false);
    let plugins = PluginDir::with(&["chaos"]);
    enqueue(
        &redis,
        &chaos_tasks("t", 3, r#"{"action":"kv-add","read":"no","ms":"1500"}"#),
        &[],
    );
    let stream = "jobhost:{jobs}:stream";
    let mut conn = redis.conn();
    let mut entries: Vec<(String, String)> = Vec::new();
    let range: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    for (id, fields) in range {
        let task = &fields.iter().find(|(k, _)| k == "task").unwrap().1;
        let task: serde_json::Value = serde_json::from_str(task).unwrap();
        entries.push((id, task["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(entries.len(), 3, "{entries:?}");
    let dir = tempfile::tempdir().unwrap();
    // A long lease: nothing here lapses; the take-over is the test's own.
    let args = ["--lease", "60s", "--concurrency", "3", "--threads", "1"];
    let mut host = host(&redis, &plugins, "h")
        .dir(dir.path())
        .args(&args)
        .start();
    // Wait until all three are in flight, then take the middle one.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = pending_entries(&mut conn, stream);
        if pending.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs not delivered: {}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (taken_id, taken_task) = entries[1].clone();
    let claimed: Vec<String> = redis::cmd("XCLAIM")
        .arg(stream)
        .arg("workers")
        .arg("thief")
        .arg(0)
        .arg(&taken_id)
        .arg("JUSTID")
        .query(&mut conn)
        .unwrap();
    assert_eq!(claimed, vec![taken_id.clone()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !host.log().contains("lease lost before its acknowledgement") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged: {}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The other two are acknowledged in the same batch (or just before).
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(&redis)["done"].as_u64() != Some(2) {
        assert!(
            Instant::now() < deadline,
            "{} {}",
            stats(&redis),
            host.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    host.signal("TERM");
    host.exits(0, Duration::from_secs(30));
    let log = host.log();
    assert!(log.contains(&format!("task={taken_task}")), "{log}");
    let adds: String = redis::cmd("GET")
        .arg("jobhost:kv:chaos:adds")
        .query(&mut conn)
        .unwrap();
    assert_eq!(adds, "2", "the refused job's add was applied: {log}");
    for (_, task) in &entries {
        let mark: Option<String> = redis::cmd("GET")
            .arg(format!("jobhost:kv:chaos:attempt:{task}"))
            .query(&mut conn)
            .unwrap();
        let expected = (task != &taken_task).then(|| "1".to_owned());
        assert_eq!(mark, expected, "mark of {task}");
    }
    // Still pending for its new owner, still in the stream.
    let pending = pending_entries(&mut conn, stream);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!((&pending[0].0, pending[0].1.as_str()), (&taken_id, "thief"));
}

/// The consumer group's pending entries: (id, consumer, idle ms, deliveries).
fn pending_entries(conn: &mut redis::Connection, stream: &str) -> Vec<(String, String, u64, u64)> {
    redis::cmd("XPENDING")
        .arg(stream)
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(100)
        .query(conn)
        .unwrap()
}
