//! The scenarios every shared queue backend must pass, each run against
//! Redis (a private redis-server) and RabbitMQ (the machine's broker on
//! 127.0.0.1:5672, in a vhost of the test's own, deleted afterwards):
//! sharing, crashes, graceful shutdown, retries and dead letters, delays.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::redis_util::*;
use crate::util::*;

/// Tests on the machine's broker share it; the one that restarts it has it
/// to itself.
static BROKER: RwLock<()> = RwLock::new(());

/// A RabbitMQ vhost of one test (guest may use it), deleted when dropped.
pub struct Vhost {
    name: String,
    _shared: RwLockReadGuard<'static, ()>,
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl is installed (the RabbitMQ server package)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Vhost {
    pub fn new() -> Self {
        Self::holding(BROKER.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// A vhost for the test that holds the broker to itself already.
    fn holding_nothing() -> Self {
        static NOBODY: RwLock<()> = RwLock::new(());
        Self::holding(NOBODY.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn holding(shared: RwLockReadGuard<'static, ()>) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "jobhost-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Vhost {
            name,
            _shared: shared,
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A queue backend with the chaos plugin ready.
pub enum Backend {
    Redis(RedisServer),
    Amqp(Vhost),
}

pub struct Setup {
    pub backend: Backend,
    pub plugins: PluginDir,
}

impl Setup {
    pub fn redis() -> Self {
        Self::on(Backend::Redis(RedisServer::start(false)))
    }

    pub fn amqp() -> Self {
        Self::on(Backend::Amqp(Vhost::new()))
    }

    fn on(backend: Backend) -> Self {
        Setup {
            backend,
            plugins: PluginDir::with(&["chaos"]),
        }
    }

    pub fn url(&self) -> String {
        match &self.backend {
            Backend::Redis(redis) => redis.url(),
            Backend::Amqp(vhost) => vhost.url(),
        }
    }

    pub fn host(&self, name: &str) -> Host<'_> {
        host_on(&self.url(), &self.plugins, name)
    }

    /// `jobhost ARGS --queue URL`.
    pub fn cli(&self, args: &[&str]) -> Run {
        run(jobhost().args(args).args(["--queue", &self.url()]))
    }

    /// `jobhost enqueue` of `lines`, checked to succeed.
    pub fn enqueue(&self, lines: &[String], extra: &[&str]) {
        let (_dir, input) = input_file(lines);
        let queued = run(jobhost()
            .args(["enqueue", "--queue", &self.url(), "--input"])
            .arg(&input)
            .args(extra));
        assert_eq!(queued.code, 0, "{queued:?}");
    }

    /// The named counters of `jobhost stats --json`.
    pub fn counts(&self, names: &[&str]) -> Vec<Option<u64>> {
        let stats = self.cli(&["stats", "--json"]);
        assert_eq!(stats.code, 0, "{stats:?}");
        let stats: Value = serde_json::from_str(&stats.stdout).expect("stats JSON");
        names.iter().map(|name| stats[*name].as_u64()).collect()
    }

    /// `jobhost dead list`.
    pub fn dead(&self) -> Vec<Value> {
        let listed = self.cli(&["dead", "list"]);
        assert_eq!(listed.code, 0, "{listed:?}");
        listed
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("dead letter JSON"))
            .collect()
    }
}

/// A test per backend for each scenario.
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[test]
                fn redis() {
                    super::$scenario(super::Setup::redis());
                }

                #[test]
                fn rabbitmq() {
                    super::$scenario(super::Setup::amqp());
                }
            }
        )*
    };
}

on_both!(
    two_hosts_share_the_jobs_none_lost_none_done_twice,
    a_sigkilled_host_loses_nothing,
    graceful_shutdown_hands_jobs_back_at_once,
    retries_then_dead_letters_then_dead_retry,
    delayed_jobs_are_not_run_early,
);

const UNTIL_EMPTY: [&str; 3] = ["--until-empty", "--lease", "1s"];

fn two_hosts_share_the_jobs_none_lost_none_done_twice(setup: Setup) {
    let total = 2000;
    setup.enqueue(&chaos_tasks("s", total, r#"{"action":"ok"}"#), &[]);
    let args = [&UNTIL_EMPTY[..], &["--concurrency", "8"]].concat();
    let mut hosts = [
        setup.host("a").args(&args).start(),
        setup.host("b").args(&args).start(),
    ];
    all_exit(&mut hosts, 0, MINUTE);
    let counts = counts(&[&hosts[0], &hosts[1]]);
    assert_eq!(counts.len(), total, "every job done");
    assert!(counts.values().all(|&n| n == 1), "none done twice");
    assert_eq!(setup.counts(&["ready", "dead"]), [Some(0), Some(0)]);
}

fn a_sigkilled_host_loses_nothing(setup: Setup) {
    let total = 300;
    setup.enqueue(
        &chaos_tasks("k", total, r#"{"action":"busy","ms":"20"}"#),
        &[],
    );
    let args = [&UNTIL_EMPTY[..], &["--concurrency", "4"]].concat();
    let mut victim = setup.host("victim").args(&args).start();
    std::thread::sleep(Duration::from_millis(700));
    victim.signal("KILL");
    victim.wait(Duration::from_secs(10));
    let mut rest = setup.host("rest").args(&args).start();
    rest.exits(0, MINUTE);
    let counts = counts(&[&victim, &rest]);
    assert_eq!(counts.len(), total, "every job done after the crash");
    assert_eq!(setup.counts(&["ready", "dead"]), [Some(0), Some(0)]);
}

fn graceful_shutdown_hands_jobs_back_at_once(setup: Setup) {
    setup.enqueue(
        &chaos_tasks("g", 6, r#"{"action":"busy","ms":"2500"}"#),
        &[],
    );
    // A long lease: if the jobs were not handed back, Redis could not give
    // them to another host for 60 s.
    let long = ["--lease", "60s", "--plugin-timeout", "20s"];
    let mut a = setup
        .host("a")
        .args(&long)
        .args(&["--threads", "2", "--concurrency", "2", "--grace", "200ms"])
        .start();
    std::thread::sleep(Duration::from_millis(1000));
    let stopping = Instant::now();
    a.signal("TERM");
    a.wait(Duration::from_secs(10));
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped after the grace period"
    );
    assert!(a.log().contains("handed"), "{}", a.log());
    assert!(a.task_ids().is_empty(), "no job finished: {}", a.log());
    assert_eq!(setup.counts(&["ready"]), [Some(6)], "{}", a.log());
    if matches!(setup.backend, Backend::Redis(_)) {
        assert_eq!(
            setup.counts(&["in_flight", "done"]),
            [Some(0), Some(0)],
            "{}",
            a.log()
        );
    }

    let started = Instant::now();
    let b = setup
        .host("b")
        .args(&["--until-empty"])
        .args(&long)
        .args(&["--concurrency", "6"])
        .finish(0);
    assert_eq!(b.task_ids().len(), 6, "{}", b.log());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "taken at once, not after the lease"
    );
}

fn retries_then_dead_letters_then_dead_retry(setup: Setup) {
    setup.enqueue(
        &[
            r#"{"id":"flaky","payload":"x","plugin":"chaos","metadata":{"action":"retry-until","succeed_at":"2"}}"#.to_owned(),
            r#"{"id":"hopeless","payload":"x","plugin":"chaos","metadata":{"action":"retry","message":"still broken"}}"#.to_owned(),
        ],
        &[],
    );
    let base = [&UNTIL_EMPTY[..], &["--retry-delay", "20ms"]].concat();
    // Dead jobs make the exit status 1.
    setup
        .host("first")
        .args(&base)
        .args(&["--max-attempts", "1"])
        .finish(1);
    let dead = setup.dead();
    assert_eq!(dead.len(), 2, "{dead:?}");
    let hopeless = dead
        .iter()
        .find(|d| d["id"] == "hopeless")
        .expect("hopeless is dead");
    assert_eq!(hopeless["attempts"], 1);
    assert!(
        hopeless["error"]
            .as_str()
            .is_some_and(|e| e.contains("still broken")),
        "{hopeless}"
    );

    let retried = setup.cli(&["dead", "retry", "flaky"]);
    assert!(
        retried.code == 0 && retried.stderr.contains("1 dead letters back on the queue"),
        "{retried:?}"
    );
    assert_eq!(setup.counts(&["dead", "ready"]), [Some(1), Some(1)]);

    let second = setup
        .host("second")
        .args(&base)
        .args(&["--max-attempts", "3"])
        .finish(0);
    let records = second.records();
    assert_eq!(records.len(), 1, "{}", second.log());
    assert_eq!(records[0]["task_id"], "flaky");
    // Attempts were reset by `dead retry`: it failed once more, then
    // succeeded (the retry waited in the delay queue).
    assert_eq!(records[0]["record"]["attempt"], 2);

    let purged = setup.cli(&["dead", "purge"]);
    assert!(
        purged.stderr.contains("purged 1 dead letters"),
        "{purged:?}"
    );
    assert!(setup.dead().is_empty());
}

fn delayed_jobs_are_not_run_early(setup: Setup) {
    let enqueued_at = Instant::now();
    setup.enqueue(&chaos_tasks("later", 1, "{}"), &["--delay", "1500ms"]);
    assert_eq!(setup.counts(&["delayed", "ready"]), [Some(1), Some(0)]);
    let mut worker = setup.host("w").args(&["--until-empty"]).start();
    std::thread::sleep(Duration::from_millis(700));
    assert!(worker.task_ids().is_empty(), "ran before its time");
    worker.exits(0, Duration::from_secs(30));
    assert!(enqueued_at.elapsed() >= Duration::from_millis(1500));
    assert_eq!(worker.task_ids(), vec!["later0"]);
}

/// A job whose hosts keep dying on it is dead-lettered once RabbitMQ's count
/// of its deliveries passes `--max-deliveries`, and `dead list` says so.
#[test]
fn rabbitmq_buries_a_poison_job_at_the_delivery_limit() {
    let setup = Setup::amqp();
    setup.enqueue(
        &chaos_tasks("poison", 1, r#"{"action":"busy","ms":"10000"}"#),
        &[],
    );
    let args = ["--max-deliveries", "2", "--plugin-timeout", "30s"];
    // Delivered, then its host killed: twice, the limit.
    for round in 0..2 {
        let mut host = setup.host(&format!("h{round}")).args(&args).start();
        wait_until(
            Duration::from_secs(20),
            || host.log().contains("joined queue") && setup.counts(&["ready"])[0] == Some(0),
            || format!("host {round} never took the job"),
        );
        std::thread::sleep(Duration::from_millis(300));
        host.signal("KILL");
        host.wait(Duration::from_secs(5));
    }
    let mut last = setup
        .host("last")
        .args(&args)
        .args(&["--until-empty"])
        .start();
    last.exits(0, MINUTE);
    assert!(
        last.task_ids().is_empty(),
        "the poison job did not run again"
    );
    let dead = setup.dead();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["id"], "poison0");
    // At least 3 deliveries (a kill under load may land before the
    // broker counted the previous return, never fewer).
    let error = dead[0]["error"].as_str().unwrap_or_default();
    let times: u32 = error
        .strip_prefix("delivered ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        times >= 3 && error.contains("without finishing"),
        "{dead:?}"
    );
    // `dead retry` puts it back like any other dead letter.
    let retried = setup.cli(&["dead", "retry", "--all"]);
    assert_eq!(retried.code, 0, "{retried:?}");
    assert_eq!(setup.counts(&["ready", "dead"]), [Some(1), Some(0)]);
}

/// The broker restarts mid-run (`rabbitmqctl stop_app`, `start_app`): the
/// hosts reconnect on their own, and every job ends done, none lost.
#[test]
fn rabbitmq_restart_mid_run_loses_nothing() {
    let _alone = BROKER.write().unwrap_or_else(|p| p.into_inner());
    let setup = Setup::on(Backend::Amqp(Vhost::holding_nothing()));
    let total = 2000;
    setup.enqueue(
        &chaos_tasks("r", total, r#"{"action":"busy","ms":"5"}"#),
        &[],
    );
    let args = ["--until-empty", "--concurrency", "4"];
    let mut hosts = [
        setup.host("a").args(&args).start(),
        setup.host("b").args(&args).start(),
    ];
    wait_until(
        MINUTE,
        || hosts.iter().map(|h| h.task_ids().len()).sum::<usize>() >= 300,
        || "the hosts did not start working".into(),
    );
    rabbitmqctl(&["stop_app"]);
    std::thread::sleep(Duration::from_secs(2));
    rabbitmqctl(&["start_app"]);
    all_exit(&mut hosts, 0, 3 * MINUTE);
    let counts = counts(&[&hosts[0], &hosts[1]]);
    assert_eq!(counts.len(), total, "every job done after the restart");
    assert_eq!(setup.counts(&["ready", "dead"]), [Some(0), Some(0)]);
    let logs = hosts[0].log() + &hosts[1].log();
    assert!(
        logs.contains("is reachable again"),
        "the hosts logged the outage and the recovery:\n{logs}"
    );
    // An outage is logged as warnings with context, not as the client
    // library's errors, and not once per job in flight: one warning of
    // lost acknowledgements per connection lost, at most.
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "no error lines for an outage: {errors:#?}"
    );
    let lost = logs.matches("was lost before its acknowledgement").count();
    let reconnected = logs.matches("is reachable again").count();
    assert!(
        lost <= reconnected,
        "{lost} lost-acknowledgement warnings for {reconnected} reconnections:\n{logs}"
    );
    let twice = counts.values().filter(|&&n| n > 1).count();
    eprintln!("rabbitmq restart: {total} jobs, all done, {twice} recorded twice");
}
