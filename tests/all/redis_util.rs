//! Helpers for the Redis tests: a private `redis-server` on a free port
//! (killable and restartable), worker processes, and queue inspection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

/// A redis-server owned by one test.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    appendonly: bool,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl RedisServer {
    /// Start a server; with `appendonly`, every write is fsynced to an AOF
    /// file so that a restart keeps everything.
    pub fn start(appendonly: bool) -> Self {
        let mut server = RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            appendonly,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.appendonly {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        self.child = Some(
            command
                .spawn()
                .expect("redis-server is installed (apt-get install redis-server)"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = redis::Client::open(self.url()).and_then(|c| c.get_connection()) {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server hard (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to the test redis")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `jobhost run` worker process against a Redis queue.
pub struct Worker {
    pub child: Child,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Worker {
    /// Start a worker; `extra` adds flags. Records go to `dir/NAME.jsonl`
    /// unless `extra` has an `--output` of its own.
    pub fn start(
        redis: &RedisServer,
        plugins: &Path,
        dir: &Path,
        name: &str,
        extra: &[&str],
    ) -> Self {
        Self::start_on(&redis.url(), plugins, dir, name, extra)
    }

    /// [`Worker::start`] on the queue at `url`.
    pub fn start_on(url: &str, plugins: &Path, dir: &Path, name: &str, extra: &[&str]) -> Self {
        let out = dir.join(format!("{name}.jsonl"));
        let err = dir.join(format!("{name}.log"));
        let mut command = jobhost();
        command
            .args(["run", "--queue", url, "--plugins"])
            .arg(plugins);
        if !extra.contains(&"--output") {
            command.arg("--output").arg(&out);
        }
        let child = command
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("log file"))
            .spawn()
            .expect("spawn jobhost run");
        Worker { child, out, err }
    }

    /// Wait for the worker to exit (at most `limit`); its exit code.
    pub fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("worker did not exit within {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the worker to exit (at most `limit`) and check its status.
    pub fn exits(&mut self, status: i32, limit: Duration) {
        assert_eq!(self.wait(limit), status, "{}", self.log());
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Task ids of the records this worker wrote.
    pub fn task_ids(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["task_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `jobhost run` on a test Redis, built flag by flag:
/// `host(&redis, &plugins, "a").until_empty().finish(0)` starts it, waits for
/// it (60 s at most) and checks its exit status; `.start()` only starts it.
/// Records go to `DIR/NAME.jsonl` and the log to `DIR/NAME.log`, where DIR
/// is the plugins folder unless [`Host::dir`] names another.
pub struct Host<'a> {
    url: String,
    plugins: &'a Path,
    dir: &'a Path,
    name: String,
    args: Vec<String>,
}

/// A run of a host named `name` on `redis`, with the plugins in `plugins`.
pub fn host<'a>(
    redis: &'a RedisServer,
    plugins: &'a crate::util::PluginDir,
    name: &str,
) -> Host<'a> {
    host_on(&redis.url(), plugins, name)
}

/// [`host`] on the queue at `url`.
pub fn host_on<'a>(url: &str, plugins: &'a crate::util::PluginDir, name: &str) -> Host<'a> {
    Host {
        url: url.to_owned(),
        plugins: plugins.path(),
        dir: plugins.path(),
        name: name.to_owned(),
        args: Vec::new(),
    }
}

impl<'a> Host<'a> {
    /// Write the records and the log into `dir`.
    pub fn dir(mut self, dir: &'a Path) -> Self {
        self.dir = dir;
        self
    }

    /// More flags.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|arg| (*arg).to_owned()));
        self
    }

    /// Exit once the queue is empty everywhere (`--until-empty`).
    pub fn until_empty(self) -> Self {
        self.args(&["--until-empty"])
    }

    /// Start the host.
    pub fn start(self) -> Worker {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Worker::start_on(&self.url, self.plugins, self.dir, &self.name, &args)
    }

    /// Start the host, wait until it exits (60 s at most) and check that it
    /// exited with `status`.
    pub fn finish(self, status: i32) -> Worker {
        let mut worker = self.start();
        worker.exits(status, Duration::from_secs(60));
        worker
    }
}

/// A minute: how long a test host may take to finish.
pub const MINUTE: Duration = Duration::from_secs(60);

/// Wait until every worker has exited with `status` (each within `limit`).
pub fn all_exit(workers: &mut [Worker], status: i32, limit: Duration) {
    for worker in workers {
        worker.exits(status, limit);
    }
}

/// Poll `done` every 20 ms until it holds; fail with `what()` after `limit`.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The setup most Redis tests share: a private redis-server, a plugins
/// folder with the chaos plugin, and tasks already on the queue.
pub struct ChaosQueue {
    pub redis: RedisServer,
    pub plugins: crate::util::PluginDir,
}

impl ChaosQueue {
    /// A server without persistence, with `tasks` enqueued.
    pub fn with(tasks: &[String]) -> Self {
        Self::on(RedisServer::start(false), tasks)
    }

    /// `server`, with `tasks` enqueued (checked to succeed).
    pub fn on(redis: RedisServer, tasks: &[String]) -> Self {
        if !tasks.is_empty() {
            let queued = enqueue(&redis, tasks, &[]);
            assert_eq!(queued.code, 0, "{queued:?}");
        }
        ChaosQueue {
            redis,
            plugins: crate::util::PluginDir::with(&["chaos"]),
        }
    }

    /// A host run on this queue, named `name`.
    pub fn host(&self, name: &str) -> Host<'_> {
        host(&self.redis, &self.plugins, name)
    }

    /// `jobhost stats --json`.
    pub fn stats(&self) -> Value {
        stats(&self.redis)
    }

    /// The named counters of `stats` (`None` where one is missing).
    pub fn counts(&self, names: &[&str]) -> Vec<Option<u64>> {
        let stats = self.stats();
        names.iter().map(|name| stats[*name].as_u64()).collect()
    }

    /// The chaos plugin's key-value entry `key`, read straight from Redis.
    pub fn kv(&self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(format!("jobhost:kv:chaos:{key}"))
            .query(&mut self.redis.conn())
            .expect("GET")
    }

    /// `jobhost dead list`.
    pub fn dead(&self) -> Vec<Value> {
        dead_list(&self.redis)
    }
}

/// How many times each task id was recorded across workers.
pub fn counts(workers: &[&Worker]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for worker in workers {
        for id in worker.task_ids() {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

/// `jobhost enqueue` lines from a file; returns the run.
pub fn enqueue(redis: &RedisServer, lines: &[String], extra: &[&str]) -> Run {
    let (_dir, input) = input_file(lines);
    run(jobhost()
        .args(["enqueue", "--queue", &redis.url(), "--input"])
        .arg(&input)
        .args(extra))
}

/// `jobhost stats --json`.
pub fn stats(redis: &RedisServer) -> Value {
    let run = run(jobhost().args(["stats", "--json", "--queue", &redis.url()]));
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).expect("stats JSON")
}

/// `jobhost dead list` as JSON values.
pub fn dead_list(redis: &RedisServer) -> Vec<Value> {
    let run = run(jobhost().args(["dead", "list", "--queue", &redis.url()]));
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead letter JSON"))
        .collect()
}

/// Inline chaos tasks `prefix0..prefixN` with the given metadata JSON.
pub fn chaos_tasks(prefix: &str, n: usize, metadata: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"{prefix}{i}","payload":"x","plugin":"chaos","metadata":{metadata}}}"#
            )
        })
        .collect()
}
