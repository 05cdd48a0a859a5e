//! Redis behind Sentinel: a master, a replica and three sentinels that each
//! test starts on loopback. The master is SIGKILLed mid-run; the hosts must
//! follow the promoted replica and every job end done, none lost. Also:
//! `--redis-wait-replicas`, and bad Sentinel URLs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::redis_util::*;
use crate::util::*;

const MASTER_NAME: &str = "jobsmaster";

/// A redis-server (or sentinel) process of one test, killed when dropped.
struct Process {
    port: u16,
    child: Option<Child>,
}

impl Process {
    /// Start `redis-server` with `args` on a free port and wait until it
    /// answers PING.
    fn start(dir: &Path, args: &[String]) -> Self {
        let port = free_port();
        Self::start_on(port, dir, args)
    }

    fn start_on(port: u16, dir: &Path, args: &[String]) -> Self {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        let process = Process {
            port,
            child: Some(child),
        };
        wait_until(
            Duration::from_secs(10),
            || process.query::<String>(&mut redis::cmd("PING")).is_ok(),
            || format!("redis-server {args:?} did not start on port {port}"),
        );
        process
    }

    fn query<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> redis::RedisResult<T> {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{}", self.port))?
            .get_connection_with_timeout(Duration::from_secs(2))?;
        cmd.query(&mut conn)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A master, one replica of it, and three sentinels watching it (quorum 2,
/// down after 1 s).
struct SentinelSet {
    master: Process,
    replica: Process,
    sentinels: Vec<Process>,
    _dir: tempfile::TempDir,
}

impl SentinelSet {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = |extra: &[String]| {
            let mut args: Vec<String> = ["--save", "", "--appendonly", "no"]
                .iter()
                .map(|arg| (*arg).to_owned())
                .collect();
            args.extend_from_slice(extra);
            args
        };
        let master_dir = dir.path().join("master");
        let replica_dir = dir.path().join("replica");
        for sub in [&master_dir, &replica_dir] {
            std::fs::create_dir_all(sub).expect("mkdir");
        }
        let master = Process::start(&master_dir, &plain(&[]));
        let replica = Process::start(
            &replica_dir,
            &plain(&[
                "--replicaof".into(),
                "127.0.0.1".into(),
                master.port.to_string(),
            ]),
        );
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let sub = dir.path().join(format!("sentinel{i}"));
            std::fs::create_dir_all(&sub).expect("mkdir");
            let conf = sub.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "sentinel monitor {MASTER_NAME} 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 10000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    master.port
                ),
            )
            .expect("write sentinel.conf");
            sentinels.push(Process::start_on(
                port,
                &sub,
                &[conf.display().to_string(), "--sentinel".into()],
            ));
        }
        let set = SentinelSet {
            master,
            replica,
            sentinels,
            _dir: dir,
        };
        // Ready once the replica is in sync and every sentinel knows the
        // replica and the two other sentinels (found through the master's
        // hello channel every 2 s): only then can they fail over.
        wait_until(
            Duration::from_secs(30),
            || set.ready(),
            || "the replica and the sentinels did not come up".into(),
        );
        set
    }

    fn ready(&self) -> bool {
        let info: String = self
            .replica
            .query(redis::cmd("INFO").arg("replication"))
            .unwrap_or_default();
        if !info.contains("master_link_status:up") {
            return false;
        }
        let count = |sentinel: &Process, what: &str| match sentinel
            .query::<redis::Value>(redis::cmd("SENTINEL").arg(what).arg(MASTER_NAME))
        {
            Ok(redis::Value::Array(items)) => items.len(),
            _ => 0,
        };
        self.sentinels
            .iter()
            .all(|sentinel| count(sentinel, "replicas") == 1 && count(sentinel, "sentinels") == 2)
    }

    fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// The port of the master the sentinels name now.
    fn master_port(&self) -> Option<u16> {
        let answer: Vec<String> = self.sentinels[0]
            .query(
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(MASTER_NAME),
            )
            .ok()?;
        answer.get(1)?.parse().ok()
    }
}

fn stats_on(url: &str) -> Value {
    let run = run(jobhost().args(["stats", "--json", "--queue", url]));
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).expect("stats JSON")
}

#[test]
fn hosts_follow_a_sentinel_failover_and_lose_no_job() {
    let mut set = SentinelSet::start();
    let url = set.url();
    let total = 4000;
    let tasks = chaos_tasks("s", total, r#"{"action":"busy","ms":"5"}"#);
    let (_input_dir, input) = input_file(&tasks);
    // Tasks are accepted only once the replica has them: a failover cannot
    // lose what the producer was told is queued.
    let enqueued = run(jobhost()
        .args([
            "enqueue",
            "--redis-wait-replicas",
            "1",
            "--queue",
            &url,
            "--input",
        ])
        .arg(&input));
    assert_eq!(enqueued.code, 0, "{enqueued:?}");
    assert!(
        !enqueued.stderr.contains("replicas confirmed"),
        "the replica confirmed every batch: {}",
        enqueued.stderr
    );

    let plugins = PluginDir::with(&["chaos"]);
    let args = ["--until-empty", "--lease", "1s", "--concurrency", "4"];
    let mut hosts = [
        host_on(&url, &plugins, "a").args(&args).start(),
        host_on(&url, &plugins, "b").args(&args).start(),
    ];
    // Kill the master once the hosts are well into the run.
    let old_master = set.master.port;
    wait_until(
        MINUTE,
        || stats_on(&url)["done"].as_u64().unwrap_or(0) >= 800,
        || "the hosts did not start working".into(),
    );
    set.master.kill();
    let killed_at = Instant::now();
    wait_until(
        MINUTE,
        || set.master_port().is_some_and(|port| port != old_master),
        || "the sentinels did not promote the replica".into(),
    );
    let promoted_after = killed_at.elapsed();
    assert_eq!(set.master_port(), Some(set.replica.port));
    all_exit(&mut hosts, 0, 2 * MINUTE);
    let finished_after = killed_at.elapsed();

    let counts = counts(&[&hosts[0], &hosts[1]]);
    assert_eq!(counts.len(), total, "every job done, none lost");
    let stats = stats_on(&url);
    for (name, want) in [("ready", 0), ("in_flight", 0), ("delayed", 0), ("dead", 0)] {
        assert_eq!(stats[name].as_u64(), Some(want), "{name}: {stats}");
    }
    let logs = hosts[0].log() + &hosts[1].log();
    assert!(
        logs.contains(&format!(
            "moved from 127.0.0.1:{old_master} to 127.0.0.1:{}",
            set.replica.port
        )),
        "the hosts logged that they followed the failover:\n{logs}"
    );
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "no error lines for a failover: {errors:#?}"
    );
    let twice = counts.values().filter(|&&n| n > 1).count();
    eprintln!(
        "sentinel failover: {total} jobs, all done; {twice} recorded twice (acknowledged by the \
         old master, not yet replicated, or in flight); replica promoted {promoted_after:.2?} \
         after the kill, all finished {finished_after:.2?} after it"
    );
}

#[test]
fn wait_replicas_warns_when_no_replica_confirms_and_keeps_the_tasks() {
    let redis = RedisServer::start(false);
    let tasks = chaos_tasks("w", 3, r#"{"action":"ok"}"#);
    let queued = enqueue(
        &redis,
        &tasks,
        &[
            "--redis-wait-replicas",
            "1",
            "--redis-wait-timeout",
            "100ms",
        ],
    );
    assert_eq!(queued.code, 0, "{queued:?}");
    assert!(
        queued.stderr.contains("only 0 of 1 replicas confirmed"),
        "{}",
        queued.stderr
    );
    assert_eq!(stats(&redis)["ready"].as_u64(), Some(3));
}

#[test]
fn bad_sentinel_urls_and_unreachable_sentinels_say_what_to_do() {
    let closed = free_port();
    for (url, says) in [
        (
            "redis+sentinel://u:s3cret@127.0.0.1:26379".to_owned(),
            "names no master",
        ),
        (
            format!("redis+sentinel://u:s3cret@127.0.0.1:{closed}/{MASTER_NAME}"),
            "no sentinel named a reachable master",
        ),
    ] {
        let run = run(jobhost().args(["stats", "--queue", &url]));
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(says), "{url}: {}", run.stderr);
        assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    }
}
