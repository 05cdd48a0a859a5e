//! The Redis backend against real redis-server processes: sharing, crashes,
//! leases, restarts, retries and dead letters, delays, the seed's lists,
//! graceful shutdown, bad entries, and the Redis key-value store and sink.

use std::time::{Duration, Instant};

use crate::redis_util::*;
use crate::util::*;

/// The flags of a host that drains the queue with a short lease.
const UNTIL_EMPTY: [&str; 3] = ["--until-empty", "--lease", "1s"];
const DONE_READY_IN_FLIGHT: [&str; 3] = ["done", "ready", "in_flight"];
const LOG_RECOVERED: &str = "recovered a job whose lease lapsed";

#[test]
fn three_workers_share_10000_jobs_none_lost_none_done_twice() {
    let queue = ChaosQueue::with(&[]);
    let queued = enqueue(&queue.redis, &chaos_tasks("j", 10_000, "{}"), &[]);
    assert!(
        queued.code == 0 && queued.stderr.contains("enqueued 10000 of 10000"),
        "{queued:?}"
    );
    let started = Instant::now();
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| queue.host(&format!("w{i}")).args(&UNTIL_EMPTY).start())
        .collect();
    all_exit(&mut workers, 0, 2 * MINUTE);
    let elapsed = started.elapsed();
    let counts = counts(&workers.iter().collect::<Vec<_>>());
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert_eq!(counts.len(), 10_000, "every job done");
    assert!(twice.is_empty(), "done twice: {twice:?}");
    let shares: Vec<usize> = workers.iter().map(|w| w.task_ids().len()).collect();
    assert!(
        !shares.contains(&0),
        "every worker took a share: {shares:?}"
    );
    assert_eq!(
        queue.counts(&DONE_READY_IN_FLIGHT),
        [Some(10_000), Some(0), Some(0)]
    );
    eprintln!("3 workers, 10000 jobs in {elapsed:.2?}; shares {shares:?}");
}

#[test]
fn a_sigkilled_worker_loses_nothing_and_its_jobs_come_back_within_the_lease() {
    // About 2.5 s of work for 12 slots, so the kill lands mid-run on any
    // machine.
    let total = 600;
    let queue = ChaosQueue::with(&chaos_tasks("k", total, r#"{"action":"busy","ms":"50"}"#));
    let args = [&UNTIL_EMPTY[..], &["--concurrency", "4"]].concat();
    let mut hosts: Vec<Worker> = ["victim", "a", "b"]
        .iter()
        .map(|name| queue.host(name).args(&args).start())
        .collect();
    // Let the victim take jobs, then kill it without a chance to clean up.
    std::thread::sleep(Duration::from_millis(1200));
    let held_before = queue.counts(&["in_flight"])[0].unwrap_or(0);
    hosts[0].signal("KILL");
    let killed_at = Instant::now();
    let killed_at_wall = seconds_of_day_now();
    hosts[0].wait(Duration::from_secs(10));
    all_exit(&mut hosts[1..], 0, 2 * MINUTE);
    let finished_after_kill = killed_at.elapsed();

    let counts = counts(&hosts.iter().collect::<Vec<_>>());
    assert_eq!(counts.len(), total, "every job ended done");
    assert_eq!(queue.counts(&["dead", "in_flight"]), [Some(0), Some(0)]);
    let logs = hosts[1].log() + &hosts[2].log();
    let recovered = logs.matches(LOG_RECOVERED).count();
    assert!(recovered > 0, "the victim's jobs were taken over:\n{logs}");
    // The first recovery happened within the lease (1 s) plus one reclaim
    // period (0.5 s), with some slack for a loaded machine.
    let first_recovery = logs
        .lines()
        .filter(|l| l.contains(LOG_RECOVERED))
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
        .expect("the clock is after 1970")
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
    let queue = ChaosQueue::with(&chaos_tasks("long", 1, r#"{"action":"busy","ms":"3500"}"#));
    // One thread: the busy job shares it with the queue's heartbeat, which
    // must still renew the lease while the plugin runs.
    let args = [
        &UNTIL_EMPTY[..],
        &["--plugin-timeout", "20s", "--threads", "1"],
    ]
    .concat();
    let a = queue.host("a").args(&args).start();
    std::thread::sleep(Duration::from_millis(300));
    let mut hosts = [a, queue.host("b").args(&args).start()];
    all_exit(&mut hosts, 0, MINUTE);
    let counts = counts(&[&hosts[0], &hosts[1]]);
    assert_eq!(counts.get("long0"), Some(&1), "{counts:?}");
    for worker in &hosts {
        let log = worker.log();
        assert!(
            !log.contains("recovered") && !log.contains("lease lost"),
            "{log}"
        );
    }
}

#[test]
fn a_redis_restart_mid_run_loses_nothing() {
    // About 2 s of work for 8 slots, so Redis dies mid-run on any machine.
    let total = 3000;
    let mut queue = ChaosQueue::on(
        RedisServer::start(true),
        &chaos_tasks("r", total, r#"{"action":"busy","ms":"5"}"#),
    );
    let args = [&UNTIL_EMPTY[..], &["--concurrency", "4"]].concat();
    let mut hosts = [
        queue.host("a").args(&args).start(),
        queue.host("b").args(&args).start(),
    ];
    std::thread::sleep(Duration::from_millis(500));
    queue.redis.kill();
    std::thread::sleep(Duration::from_millis(1500));
    queue.redis.restart();
    all_exit(&mut hosts, 0, 2 * MINUTE);
    let counts = counts(&[&hosts[0], &hosts[1]]);
    assert_eq!(counts.len(), total, "every job done after the restart");
    assert_eq!(
        queue.counts(&["dead", "in_flight", "ready"]),
        [Some(0), Some(0), Some(0)]
    );
    let logs = hosts[0].log() + &hosts[1].log();
    for logged in ["is unavailable", "is reachable again"] {
        assert!(logs.contains(logged), "the outage was logged:\n{logs}");
    }
    // An outage the hosts wait out is warnings, not errors (the schedules'
    // ticker included).
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "no error lines for an outage: {errors:#?}"
    );
}

/// `dead:PLUGIN` counts the plugin a job was routed to, not only the one a
/// task named (a task routed by `--plugin` used to count nowhere).
#[test]
fn dead_jobs_count_for_the_plugin_they_were_routed_to() {
    let queue = ChaosQueue::with(&[
        r#"{"id":"routed","payload":"x","metadata":{"action":"fail"}}"#.to_owned(),
        r#"{"id":"named","payload":"x","plugin":"chaos","metadata":{"action":"fail"}}"#.to_owned(),
    ]);
    let host = queue
        .host("host")
        .args(&UNTIL_EMPTY)
        .args(&["--plugin", "chaos"])
        .finish(1);
    let s = queue.stats();
    assert_eq!(
        (s["dead"].as_u64(), s["plugins"]["chaos"]["dead"].as_u64()),
        (Some(2), Some(2)),
        "{s}\n{}",
        host.log()
    );
}

/// `LPUSH`/`RPUSH`/`XADD`-style writes of raw entries, as another program
/// would make them.
fn push(queue: &ChaosQueue, command: &str, key: &str, values: &[&str]) {
    let mut conn = queue.redis.conn();
    for value in values {
        let mut cmd = redis::cmd(command);
        cmd.arg(key);
        if command == "XADD" {
            cmd.arg("*").arg("task");
        }
        cmd.arg(*value)
            .query::<redis::Value>(&mut conn)
            .expect("write to the test Redis");
    }
}

#[test]
fn seed_style_rpush_of_bare_urls_is_consumed() {
    let queue = ChaosQueue::with(&[]);
    let server = TestServer::start();
    let urls: Vec<String> = (0..50)
        .map(|i| server.url(&format!("/chaos/{i}")))
        .collect();
    let mut lines: Vec<&str> = urls.iter().map(String::as_str).collect();
    lines.push("not a url");
    push(&queue, "RPUSH", "music_task_queue", &lines);
    // One bad line is dead: the exit status is 1.
    let worker = queue
        .host("w")
        .until_empty()
        .args(&["--redis-list", "music_task_queue"])
        .finish(1);
    assert_eq!(worker.task_ids().len(), 50, "{}", worker.log());
    for i in 0..50 {
        assert_eq!(server.hits(&format!("/chaos/{i}")), 1);
    }
    let left: i64 = redis::cmd("LLEN")
        .arg("music_task_queue")
        .query(&mut queue.redis.conn())
        .expect("LLEN");
    assert_eq!(left, 0);
    let dead = queue.dead();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["raw"], "not a url");
    assert_dead_because(&dead, "invalid task in the queue");
}

/// Every dead letter's error says `why`.
fn assert_dead_because(dead: &[serde_json::Value], why: &str) {
    for letter in dead {
        let error = letter["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{letter}");
    }
}

#[test]
fn bad_entries_in_the_queue_are_dead_lettered_and_the_worker_goes_on() {
    let queue = ChaosQueue::with(&chaos_tasks("fine", 3, "{}"));
    push(
        &queue,
        "XADD",
        "jobhost:{jobs}:stream",
        &["{not json", r#"{"id":"no-url"}"#],
    );
    let worker = queue.host("w").until_empty().finish(1);
    assert_eq!(worker.task_ids().len(), 3);
    let dead = queue.dead();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_dead_because(&dead, "invalid task JSON in the queue");
}

#[test]
fn a_poison_job_that_keeps_killing_its_host_is_dead_lettered() {
    let queue = ChaosQueue::with(&chaos_tasks(
        "poison",
        1,
        r#"{"action":"busy","ms":"10000"}"#,
    ));
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
        let mut host = queue.host(&format!("h{round}")).args(&args).start();
        // Wait until this host holds the job (its lease must lapse first
        // after the previous host died), then kill it.
        wait_until(
            Duration::from_secs(10),
            || host.log().contains("joined queue") && queue.counts(&["in_flight"])[0] == Some(1),
            || format!("host {round} never took the job"),
        );
        std::thread::sleep(Duration::from_millis(300));
        host.signal("KILL");
        host.wait(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(600));
    }
    let mut last = queue.host("last").args(&args).start();
    last.exits(0, Duration::from_secs(30));
    let dead = queue.dead();
    assert_eq!(dead.len(), 1, "{dead:?}\n{}", last.log());
    assert_dead_because(&dead, "delivered 3 times");
    assert_eq!(dead[0]["id"], "poison0");
}

#[test]
fn key_value_writes_are_applied_with_the_ack_so_retried_attempts_leave_none() {
    // 30 jobs, each setting `attempt:<id>` and adding 1 to `adds`, then
    // retrying until its third attempt, on two hosts. The writes travel
    // with the acknowledgement: the counter is exactly 30 (immediate writes
    // would give 90) and each mark holds the attempt that succeeded.
    let queue = ChaosQueue::with(&chaos_tasks(
        "add",
        30,
        r#"{"action":"kv-add","succeed_at":"3"}"#,
    ));
    let args = ["--until-empty", "--retry-delay", "10ms"];
    let mut hosts = [
        queue.host("h0").args(&args).start(),
        queue.host("h1").args(&args).start(),
    ];
    all_exit(&mut hosts, 0, MINUTE);
    assert_eq!(queue.kv("adds").as_deref(), Some("30"));
    for i in 0..30 {
        assert_eq!(
            queue.kv(&format!("attempt:add{i}")).as_deref(),
            Some("3"),
            "task add{i}"
        );
    }
    assert_eq!(hosts.iter().flat_map(Worker::records).count(), 30);
    assert_eq!(queue.counts(&["done", "retried"]), [Some(30), Some(60)]);
}

#[test]
fn an_add_that_redis_refuses_at_the_ack_is_left_out_with_a_warning_and_the_job_is_done() {
    // The job cannot tell that `notnum` holds text: its add fails only in
    // ack.lua. That must not fail the acknowledgement (or the batch): the
    // job is done, its other write applied, the add left out and logged.
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
    let queue = ChaosQueue::with(&tasks);
    push(&queue, "SET", "jobhost:kv:chaos:notnum", &["abc"]);
    let host = queue.host("h").until_empty().finish(0);
    assert_eq!(queue.kv("notnum").as_deref(), Some("abc"));
    assert_eq!(queue.kv("attempt:bad0").as_deref(), Some("1"));
    assert_eq!(queue.kv("fine").as_deref(), Some("5"));
    assert_eq!(queue.counts(&["done"]), [Some(6)]);
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
    let queue = ChaosQueue::with(&chaos_tasks(
        "inc",
        1,
        r#"{"action":"kv-add","key":"k","increment":"10"}"#,
    ));
    let host = queue.host("h").until_empty().finish(0);
    let records = host.records();
    assert_eq!(records.len(), 1, "{}", host.log());
    assert_eq!(records[0]["record"]["incremented"], 11, "{records:?}");
    assert_eq!(queue.kv("k").as_deref(), Some("11"));
}

#[test]
fn plugins_share_a_redis_key_value_store_and_records_can_go_to_a_stream() {
    let queue = ChaosQueue::with(&chaos_tasks("kv", 20, r#"{"action":"kv","key":"hits"}"#));
    // Two hosts with the stream as their only sink.
    let args = ["--until-empty", "--output", "redis-stream:records"];
    let mut hosts = [
        queue.host("a").args(&args).start(),
        queue.host("b").args(&args).start(),
    ];
    all_exit(&mut hosts, 0, MINUTE);
    assert_eq!(queue.kv("hits").as_deref(), Some("20"));
    let mut values: Vec<i64> = stream_json(&queue, "records", "record")
        .iter()
        .map(|(_, record)| record["value"].as_i64().expect("a counter value"))
        .collect();
    values.sort();
    assert_eq!(
        values,
        (1..=20).collect::<Vec<_>>(),
        "every increment seen once across two hosts"
    );
}

/// The JSON in `field` of every entry of a Redis stream, with its id.
fn stream_json(queue: &ChaosQueue, stream: &str, field: &str) -> Vec<(String, serde_json::Value)> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut queue.redis.conn())
        .expect("XRANGE");
    entries
        .into_iter()
        .map(|(id, fields)| {
            let (_, text) = fields
                .into_iter()
                .find(|(name, _)| name == field)
                .unwrap_or_else(|| panic!("no {field} in entry {id}"));
            (id, serde_json::from_str(&text).expect("JSON in the stream"))
        })
        .collect()
}

#[test]
fn an_unreachable_redis_is_a_clear_configuration_error() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let plugins = PluginDir::with(&["chaos"]);
    let run = run(jobhost()
        .args(["run", "--queue", &url, "--plugins"])
        .arg(plugins.path()));
    assert_eq!(run.code, 2, "{run:?}");
    for said in [
        &format!("cannot connect to Redis at {url}"),
        "is redis-server running there?",
    ] {
        assert!(run.stderr.contains(said), "{run:?}");
    }
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
    let queue = ChaosQueue::with(&[]);
    let jobs = 2000;
    let mut calls = Vec::new();
    for (round, batch) in ["256", "1"].into_iter().enumerate() {
        enqueue(
            &queue.redis,
            &chaos_tasks(&format!("b{round}-"), jobs, "{}"),
            &[],
        );
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut queue.redis.conn())
            .expect("CONFIG RESETSTAT");
        let mut worker = queue
            .host(&format!("batch-{batch}"))
            .until_empty()
            .args(&["--concurrency", "64", "--ack-batch", batch])
            .start();
        worker.exits(0, 2 * MINUTE);
        let ids = worker.task_ids();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!((ids.len(), distinct.len()), (jobs, jobs), "each job once");
        calls.push(script_calls(&queue.redis));
    }
    assert_eq!(
        queue.counts(&["done", "in_flight"]),
        [Some(2 * jobs as u64), Some(0)]
    );
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
            &queue.redis.url(),
            "--ack-batch",
            "0",
            "--plugins",
        ])
        .arg(queue.plugins.path()));
    assert!(
        bad.code == 2 && bad.stderr.contains("--ack-batch"),
        "{bad:?}"
    );
}

#[test]
fn a_job_taken_over_mid_run_is_refused_at_the_ack_while_its_batch_mates_are_done() {
    // Three jobs run at once on one host, each busy for 1.5 s before its
    // key-value writes. Mid-run, another consumer takes one of them over
    // (XCLAIM, as a host that reclaimed a lapsed lease would). The three
    // finish together, so their acknowledgements travel in one batch: the
    // taken one must be refused (none of its writes applied, still pending
    // for its new owner) and the other two done with their writes.
    let queue = ChaosQueue::with(&chaos_tasks(
        "t",
        3,
        r#"{"action":"kv-add","read":"no","ms":"1500"}"#,
    ));
    let stream = "jobhost:{jobs}:stream";
    let mut conn = queue.redis.conn();
    let entries: Vec<(String, String)> = stream_json(&queue, stream, "task")
        .into_iter()
        .map(|(id, task)| (id, task["id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");
    // A long lease: nothing here lapses; the take-over is the test's own.
    let args = ["--lease", "60s", "--concurrency", "3", "--threads", "1"];
    let mut host = queue.host("h").args(&args).start();
    // Wait until all three are in flight, then take the middle one.
    wait_until(
        Duration::from_secs(30),
        || pending_entries(&mut queue.redis.conn(), stream).len() == 3,
        || format!("jobs not delivered: {}", host.log()),
    );
    let (taken_id, taken_task) = entries[1].clone();
    let claimed: Vec<String> = redis::cmd("XCLAIM")
        .arg(stream)
        .arg("workers")
        .arg("thief")
        .arg(0)
        .arg(&taken_id)
        .arg("JUSTID")
        .query(&mut conn)
        .expect("XCLAIM");
    assert_eq!(claimed, vec![taken_id.clone()]);
    wait_until(
        Duration::from_secs(30),
        || host.log().contains("lease lost before its acknowledgement"),
        || format!("no refusal logged: {}", host.log()),
    );
    // The other two are acknowledged in the same batch (or just before).
    wait_until(
        Duration::from_secs(30),
        || queue.counts(&["done"]) == [Some(2)],
        || format!("{} {}", queue.stats(), host.log()),
    );
    host.signal("TERM");
    host.exits(0, Duration::from_secs(30));
    let log = host.log();
    assert!(log.contains(&format!("task={taken_task}")), "{log}");
    assert_eq!(
        queue.kv("adds").as_deref(),
        Some("2"),
        "the refused job's add was applied: {log}"
    );
    for (_, task) in &entries {
        let expected = (task != &taken_task).then_some("1");
        assert_eq!(
            queue.kv(&format!("attempt:{task}")).as_deref(),
            expected,
            "mark of {task}"
        );
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
        .expect("XPENDING")
}
