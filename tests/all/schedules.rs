//! Schedules against real redis-server and `jobhost run` processes: each
//! tick fired once across hosts, a round finished exactly once after its
//! producer is SIGKILLed, catch-up and overlap policies, unique URLs,
//! on-complete tasks, and the CLI's errors. Time is compressed with short
//! periods, never mocked.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::redis_util::*;
use crate::util::*;

/// `jobhost schedule ARGS --queue URL`.
fn schedule(queue: &ChaosQueue, args: &[&str]) -> Run {
    let mut command = jobhost();
    command
        .arg("schedule")
        .args(args)
        .args(["--queue", &queue.redis.url()]);
    run(&mut command)
}

/// `schedule add`, checked to succeed.
fn add(queue: &ChaosQueue, args: &[&str]) {
    let added = schedule(queue, &[&["add"], args].concat());
    assert_eq!(added.code, 0, "{added:?}");
}

/// The rounds in Redis: id → its fields.
fn rounds(queue: &ChaosQueue) -> BTreeMap<String, HashMap<String, String>> {
    let mut conn = queue.redis.conn();
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg("jobhost:{jobs}:rounds")
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .expect("ZRANGE");
    ids.into_iter()
        .map(|id| {
            let fields: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(format!("jobhost:{{jobs}}:round:{id}"))
                .query(&mut conn)
                .expect("HGETALL");
            (id, fields)
        })
        .collect()
}

/// The fire times of schedule `name`'s rounds, in order.
fn fires(queue: &ChaosQueue, name: &str) -> Vec<u64> {
    rounds(queue)
        .values()
        .filter(|round| round["schedule"] == name)
        .map(|round| round["fire"].parse().expect("fire time"))
        .collect()
}

fn field(round: &HashMap<String, String>, name: &str) -> u64 {
    round.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A schedule's state hash.
fn state(queue: &ChaosQueue, name: &str) -> HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg(format!("jobhost:{{jobs}}:schedule:{name}"))
        .query(&mut queue.redis.conn())
        .expect("HGETALL")
}

/// The schedule's anchor (when it was added), from its stored JSON.
fn anchor(queue: &ChaosQueue, name: &str) -> u64 {
    let json: String = redis::cmd("HGET")
        .arg("jobhost:{jobs}:schedules")
        .arg(name)
        .query(&mut queue.redis.conn())
        .expect("HGET");
    let schedule: serde_json::Value = serde_json::from_str(&json).expect("schedule JSON");
    schedule["anchor_ms"].as_u64().expect("anchor_ms")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

/// Sleep until the wall clock reads `ms`.
fn sleep_until(ms: u64) {
    let now = now_ms();
    if ms > now {
        std::thread::sleep(Duration::from_millis(ms - now));
    }
}

/// A host for busy chaos jobs, run from now until the wall clock reads
/// `until_ms`, then stopped with SIGTERM.
fn busy_host_until(queue: &ChaosQueue, until_ms: u64) -> Worker {
    let mut host = queue
        .host("h")
        .args(&["--plugin-timeout", "20s", "--lease", "30s"])
        .start();
    sleep_until(until_ms);
    host.signal("TERM");
    host.exits(0, MINUTE);
    host
}

const INLINE: &str = r#"{"payload":"x","plugin":"chaos"}"#;

#[test]
fn three_hosts_fire_each_tick_of_a_one_second_schedule_once() {
    let queue = ChaosQueue::with(&[]);
    add(
        &queue,
        &[
            "tick",
            "--every",
            "1s",
            "--task",
            INLINE,
            "--task",
            INLINE,
            "--on-complete",
            r#"{"payload":"complete","plugin":"chaos"}"#,
        ],
    );
    let mut hosts: Vec<Worker> = (0..3)
        .map(|i| {
            queue
                .host(&format!("h{i}"))
                .args(&["--lease", "5s"])
                .start()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(10));
    for host in &hosts {
        host.signal("TERM");
    }
    all_exit(&mut hosts, 0, MINUTE);

    let fired = fires(&queue, "tick");
    let start = anchor(&queue, "tick");
    // Every tick from the first to the last, once: no gap, no repeat.
    assert!(
        fired.len() >= 7,
        "{} rounds in 10 s: {fired:?}",
        fired.len()
    );
    for (i, fire) in fired.iter().enumerate() {
        assert_eq!(
            (fire - start) % 1000,
            0,
            "fire times are ticks of the schedule"
        );
        if i > 0 {
            assert_eq!(fire - fired[i - 1], 1000, "ticks in a row: {fired:?}");
        }
    }
    // Each round produced once: two tasks (ids ROUND#0 and ROUND#1), each
    // recorded once across the hosts, and one on-complete task per
    // completed round.
    let counts = counts(&hosts.iter().collect::<Vec<_>>());
    let mut completed = 0;
    for (id, round) in rounds(&queue) {
        assert_eq!(field(&round, "total"), 2, "{id}: {round:?}");
        if round.contains_key("completed") {
            completed += 1;
            for position in 0..2 {
                assert_eq!(counts.get(&format!("{id}#{position}")), Some(&1), "{id}");
            }
        }
    }
    assert!(
        completed >= fired.len() - 1,
        "{completed} of {} completed",
        fired.len()
    );
    let producers: std::collections::HashSet<String> = rounds(&queue)
        .values()
        .map(|r| r["owner"].clone())
        .collect();
    eprintln!(
        "3 hosts, 10 s: {} rounds fired, each once; {completed} completed; {} distinct producers",
        fired.len(),
        producers.len()
    );
    let on_complete_tasks = counts.keys().filter(|id| !id.contains('#')).count();
    assert_eq!(
        on_complete_tasks, completed,
        "one on-complete task per completed round"
    );
}

#[test]
fn a_round_whose_producer_is_killed_midway_is_finished_by_another_host_exactly_once() {
    let queue = ChaosQueue::with(&[]);
    let size = 300_000u64;
    // Spread over 1,000 hours: the tasks wait in the delayed set (one
    // becomes due every 12 s), where the test counts them.
    add(
        &queue,
        &[
            "big",
            "--every",
            "2s",
            "--urls",
            &format!("http://127.0.0.1:9/track/{{1..{size}}}"),
            "--spread",
            "1000h",
        ],
    );
    let mut victim = queue.host("victim").start();
    let mut conn = queue.redis.conn();
    let cursor = |conn: &mut redis::Connection| -> (u64, bool) {
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg("jobhost:{jobs}:rounds")
            .arg(0)
            .arg(-1)
            .query(conn)
            .expect("ZRANGE");
        let Some(id) = ids.first() else {
            return (0, false);
        };
        let (cursor, produced): (Option<u64>, Option<String>) = redis::cmd("HMGET")
            .arg(format!("jobhost:{{jobs}}:round:{id}"))
            .arg("cursor")
            .arg("produced")
            .query(conn)
            .expect("HMGET");
        (cursor.unwrap_or(0), produced.as_deref() == Some("1"))
    };
    wait_until(
        Duration::from_secs(30),
        || cursor(&mut conn).0 >= size / 3,
        || format!("the round was not started: {}", victim.log()),
    );
    victim.signal("KILL");
    victim.wait(Duration::from_secs(5));
    let (killed_at, produced) = cursor(&mut conn);
    assert!(
        !produced,
        "the kill came too late: the round was already produced"
    );
    let mut heir = queue.host("heir").start();
    wait_until(
        Duration::from_secs(60),
        || cursor(&mut conn).1,
        || format!("the round was not finished: {}", heir.log()),
    );
    heir.signal("TERM");
    heir.wait(Duration::from_secs(30));
    assert!(heir.log().contains("adopted a round"), "{}", heir.log());

    // Every URL of the round enqueued once: one task per position, in the
    // delayed set, or (the few that fell due and were tried) in the stream
    // or the dead letters, read in one transaction.
    type Entries = Vec<(String, Vec<(String, String)>)>;
    let (delayed, stream, dead): (Vec<String>, Entries, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("ZRANGE")
        .arg("jobhost:{jobs}:delayed")
        .arg(0)
        .arg(-1)
        .cmd("XRANGE")
        .arg("jobhost:{jobs}:stream")
        .arg("-")
        .arg("+")
        .cmd("HVALS")
        .arg("jobhost:{jobs}:dead")
        .query(&mut conn)
        .expect("read the queue");
    let dead_tasks: Vec<String> = dead
        .iter()
        .map(|letter| {
            let letter: serde_json::Value = serde_json::from_str(letter).expect("dead letter JSON");
            letter["task"].to_string()
        })
        .collect();
    let members: Vec<&String> = delayed
        .iter()
        .chain(
            stream
                .iter()
                .flat_map(|(_, fields)| fields.iter().map(|(_, v)| v)),
        )
        .chain(dead_tasks.iter())
        .collect();
    assert_eq!(members.len() as u64, size);
    // Spread evenly: position p of n is due at fire + 1000 h * p / n
    // (12 s apart here).
    let round = rounds(&queue).into_values().next().expect("the round");
    let fire = field(&round, "fire");
    let scores: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("jobhost:{jobs}:delayed")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut conn)
        .expect("ZRANGE");
    for (member, score) in &scores {
        let task: serde_json::Value = serde_json::from_str(member).expect("task JSON");
        let id = task["id"].as_str().expect("id");
        let position: u64 = id
            .rsplit('#')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("position");
        if task["failures"].as_u64().unwrap_or(0) == 0 {
            assert_eq!(*score as u64, fire + 12_000 * position, "{id}");
        }
    }
    let mut seen = vec![false; size as usize];
    for member in members {
        let task: serde_json::Value = serde_json::from_str(member).expect("task JSON");
        let url = task["url"].as_str().expect("url");
        let n: usize = url
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("number");
        assert!(!seen[n - 1], "{url} enqueued twice");
        seen[n - 1] = true;
    }
    assert_eq!(field(&round, "total"), size);
    eprintln!("producer killed at position {killed_at} of {size}; the heir enqueued the rest; {size} URLs once each");
}

#[test]
fn missed_ticks_are_caught_up_once_or_skipped_as_each_schedule_says() {
    let queue = ChaosQueue::with(&[]);
    add(
        &queue,
        &[
            "one",
            "--every",
            "4s",
            "--task",
            INLINE,
            "--catch-up",
            "one",
        ],
    );
    add(
        &queue,
        &[
            "skip",
            "--every",
            "4s",
            "--task",
            INLINE,
            "--catch-up",
            "skip",
        ],
    );
    let t = anchor(&queue, "one");
    let t_skip = anchor(&queue, "skip");
    // No host from the start until 2.4 s after the tick at +8 s: the ticks
    // at +4 and +8 are missed (the latest is late by more than half the
    // period when the host starts, before the tick at +12).
    sleep_until(t + 10_400);
    let mut host = queue.host("h").start();
    sleep_until(t + 13_000);
    host.signal("TERM");
    host.exits(0, MINUTE);
    assert_eq!(
        fires(&queue, "one"),
        vec![t + 8000, t + 12_000],
        "{}",
        host.log()
    );
    assert_eq!(
        fires(&queue, "skip"),
        vec![t_skip + 12_000],
        "{}",
        host.log()
    );
    assert_eq!(state(&queue, "one")["missed"], "1");
    assert_eq!(state(&queue, "skip")["missed"], "2");
}

#[test]
fn a_tick_during_a_running_round_is_skipped_or_starts_another_as_each_schedule_says() {
    let queue = ChaosQueue::with(&[]);
    let busy = r#"{"payload":"x","plugin":"chaos","metadata":{"action":"busy","ms":"4000"}}"#;
    add(
        &queue,
        &["skip", "--every", "1s", "--task", busy, "--overlap", "skip"],
    );
    add(
        &queue,
        &[
            "allow",
            "--every",
            "1s",
            "--task",
            busy,
            "--overlap",
            "allow",
        ],
    );
    let host = busy_host_until(&queue, anchor(&queue, "skip") + 3_600);
    let skipped = fires(&queue, "skip");
    let allowed = fires(&queue, "allow");
    assert_eq!(skipped.len(), 1, "{skipped:?}\n{}", host.log());
    assert!(allowed.len() >= 3, "{allowed:?}\n{}", host.log());
    let overlapped: u64 = state(&queue, "skip")["overlapped"].parse().expect("count");
    assert!(overlapped >= 2, "{overlapped}");
}

#[test]
fn a_unique_url_still_pending_from_an_earlier_round_is_not_enqueued_again() {
    let queue = ChaosQueue::with(&[]);
    let server = TestServer::start();
    let task = format!(
        r#"{{"url":"{}","plugin":"chaos","metadata":{{"action":"busy","ms":"2500"}}}}"#,
        server.url("/chaos/slow")
    );
    add(
        &queue,
        &[
            "u",
            "--every",
            "1s",
            "--task",
            &task,
            "--unique",
            "--overlap",
            "allow",
        ],
    );
    let _host = busy_host_until(&queue, anchor(&queue, "u") + 5_500);
    let all = rounds(&queue);
    let enqueued = all.values().filter(|r| field(r, "total") == 1).count();
    let skipped = all.values().filter(|r| field(r, "skipped") == 1).count();
    assert!(all.len() >= 4, "{all:?}");
    assert!(
        skipped >= 2,
        "rounds during the slow job skip its URL: {all:?}"
    );
    assert!(
        enqueued >= 2,
        "the URL is enqueued again once its job ended: {all:?}"
    );
    assert_eq!(enqueued + skipped, all.len(), "{all:?}");
    // The server saw one fetch per round that enqueued the URL (the last
    // may have been handed back by the shutdown).
    let hits = server.hits("/chaos/slow") as usize;
    assert!(
        hits == enqueued || hits + 1 == enqueued,
        "{hits} fetches, {enqueued} enqueued"
    );
}

#[test]
fn the_schedule_commands_store_list_trigger_pause_and_refuse_bad_input() {
    let queue = ChaosQueue::with(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("tasks.txt");
    std::fs::write(
        &input,
        format!("{INLINE}\n# comment\n{INLINE}\nnot a task\n"),
    )
    .expect("write");
    add(
        &queue,
        &[
            "nightly",
            "--cron",
            "0 3 * * *",
            "--tz",
            "Asia/Shanghai",
            "--input",
            &input.display().to_string(),
        ],
    );
    let again = schedule(
        &queue,
        &["add", "nightly", "--every", "1h", "--task", INLINE],
    );
    assert!(
        again.code == 2 && again.stderr.contains("exists already"),
        "{again:?}"
    );

    let triggered = schedule(&queue, &["trigger", "nightly"]);
    assert_eq!(triggered.code, 0, "{triggered:?}");
    assert!(
        triggered.stderr.contains("2 tasks enqueued"),
        "{triggered:?}"
    );
    assert!(
        triggered.stderr.contains("not a task"),
        "the bad line is named: {triggered:?}"
    );
    let listed = schedule(&queue, &["list", "--json"]);
    let line: serde_json::Value = serde_json::from_str(listed.stdout.trim()).expect("JSON");
    assert_eq!(line["name"], "nightly");
    assert_eq!(line["round"]["total"], 2, "{line}");
    assert_eq!(line["round"]["pending"], 2, "{line}");
    let stats = queue.stats();
    assert_eq!(stats["schedules"]["nightly"]["pending"], 2, "{stats}");
    // 03:00 in Shanghai is 19:00 UTC.
    let next = line["next_fire"].as_u64().expect("next fire");
    assert_eq!((next / 1000) % 86_400, 19 * 3600, "{line}");

    // Run the round: it completes.
    queue.host("h").until_empty().finish(0);
    let listed = schedule(&queue, &["list", "--json"]);
    let line: serde_json::Value = serde_json::from_str(listed.stdout.trim()).expect("JSON");
    assert_eq!(
        (&line["round"]["done"], &line["round"]["pending"]),
        (&serde_json::json!(2), &serde_json::json!(0)),
        "{line}"
    );
    assert!(line["round"]["completed"].is_u64(), "{line}");

    assert_eq!(schedule(&queue, &["pause", "nightly"]).code, 0);
    let listed = schedule(&queue, &["list"]);
    assert!(listed.stdout.contains("(paused)"), "{listed:?}");
    assert_eq!(schedule(&queue, &["resume", "nightly"]).code, 0);
    // A file gone at the next fire ends that round's production, named
    // (with --spread, where the firing host counts the file first).
    add(
        &queue,
        &[
            "nightly",
            "--replace",
            "--cron",
            "0 3 * * *",
            "--input",
            &input.display().to_string(),
            "--spread",
            "1h",
        ],
    );
    std::fs::remove_file(&input).expect("remove the input");
    let missing = schedule(&queue, &["trigger", "nightly"]);
    assert!(
        missing.code == 2 && missing.stderr.contains("cannot open"),
        "{missing:?}"
    );
    let listed = schedule(&queue, &["list", "--json"]);
    let line: serde_json::Value = serde_json::from_str(listed.stdout.trim()).expect("JSON");
    assert_eq!(line["round"]["produced"], true, "{line}");
    assert_eq!(line["round"]["total"], 0, "{line}");
    assert!(line["round"]["completed"].is_u64(), "{line}");
    let producing: i64 = redis::cmd("ZCARD")
        .arg("jobhost:{jobs}:producing")
        .query(&mut queue.redis.conn())
        .expect("ZCARD");
    assert_eq!(producing, 0, "no round is left for a host to adopt");
    assert_eq!(schedule(&queue, &["remove", "nightly"]).code, 0);
    let gone = schedule(&queue, &["trigger", "nightly"]);
    assert!(
        gone.code == 2 && gone.stderr.contains("no schedule named `nightly`"),
        "{gone:?}"
    );

    for (args, says) in [
        (
            vec!["bad", "--cron", "0 25 * * *", "--task", INLINE],
            "hour",
        ),
        (
            vec![
                "bad",
                "--cron",
                "0 3 * * *",
                "--tz",
                "Mars/Base",
                "--task",
                INLINE,
            ],
            "Mars/Base",
        ),
        (
            vec!["bad", "--every", "1h", "--urls", "https://e.com/{5..1}"],
            "greater than LAST",
        ),
        (
            vec!["bad", "--every", "1h", "--task", "not a url"],
            "--task 1",
        ),
        (vec!["Bad", "--every", "1h", "--task", INLINE], "lower-case"),
        (
            vec![
                "bad",
                "--every",
                "1h",
                "--task",
                INLINE,
                "--on-complete",
                "{",
            ],
            "--on-complete",
        ),
    ] {
        let refused = schedule(&queue, &[&["add"], &args[..]].concat());
        assert!(
            refused.code == 2 && refused.stderr.contains(says),
            "{args:?}: {refused:?}"
        );
    }
    let listed = schedule(&queue, &["list"]);
    assert!(
        listed.stdout.trim().is_empty(),
        "nothing bad was stored: {listed:?}"
    );
}

#[test]
fn an_in_memory_run_fires_its_schedules_until_it_is_stopped() {
    let plugins = PluginDir::with(&["chaos"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("records.jsonl");
    let log = dir.path().join("run.log");
    let spec = format!(
        "tick --every 1s --task '{INLINE}' --task '{INLINE}' --on-complete '{}'",
        r#"{"payload":"complete","plugin":"chaos"}"#
    );
    let started = now_ms();
    let mut child = jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .arg("--output")
        .arg(&out)
        .args(["--schedule", &spec])
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn jobhost run");
    sleep_until(started + 3_600);
    let alive = child.try_wait().expect("try_wait").is_none();
    assert!(
        alive,
        "a run with schedules goes on: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{logged}");
    let ids: Vec<String> = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["task_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut per_round: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in &ids {
        if let Some((round, position)) = id.split_once('#') {
            per_round.entry(round).or_default().push(position);
        }
    }
    assert!(per_round.len() >= 2, "{per_round:?}\n{logged}");
    for (round, positions) in &mut per_round {
        positions.sort();
        assert_eq!(positions, &vec!["0", "1"], "{round}: each task once");
    }
    let on_complete = ids.iter().filter(|id| !id.contains('#')).count();
    assert_eq!(
        on_complete,
        per_round.len(),
        "one on-complete task per round: {ids:?}"
    );

    // A Redis queue keeps its schedules in Redis; a bad spec is named.
    for (args, says) in [
        (
            vec![
                "--queue",
                "redis://127.0.0.1:1",
                "--schedule",
                spec.as_str(),
            ],
            "jobhost schedule add",
        ),
        (vec!["--schedule", "tick --every 1s"], "--task"),
    ] {
        let refused = run(jobhost()
            .args(["run", "--plugins"])
            .arg(plugins.path())
            .args(&args));
        assert!(
            refused.code == 2
                && refused.stderr.contains("--schedule")
                && refused.stderr.contains(says),
            "{args:?}: {refused:?}"
        );
    }
}
