//! `amqps://`: a RabbitMQ node the test starts itself, TLS only (a CA and
//! certificate the test makes) with a user and password of its own; the
//! queue, `enqueue`, `stats` and `dead` work through it with
//! `--amqp-ca-cert`, verification cannot be skipped, and the password
//! shows nowhere.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_util::{chaos_tasks, free_port};
use crate::util::*;

const PASSWORD: &str = "s3cret-amqp-pw-8c41";

/// A private RabbitMQ node listening for TLS only on `port`.
struct TlsBroker {
    port: u16,
    tls: TlsFiles,
    child: Child,
    pid_file: PathBuf,
    dir: tempfile::TempDir,
}

impl TlsBroker {
    fn start() -> Self {
        let tls = TlsFiles::make();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let base = dir.path();
        std::fs::write(
            base.join("rabbitmq.conf"),
            format!(
                "listeners.tcp = none\nlisteners.ssl.default = {port}\n\
                 ssl_options.cacertfile = {}\nssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\nssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n\
                 ssl_handshake_timeout = 60000\n\
                 default_user = worker\ndefault_pass = {PASSWORD}\n",
                tls.ca.display(),
                tls.cert.display(),
                tls.key.display()
            ),
        )
        .expect("rabbitmq.conf");
        std::fs::write(base.join("enabled_plugins"), "[].\n").expect("enabled_plugins");
        let pid_file = base.join("node.pid");
        let node = format!("jobhost-tls-{}-{port}@localhost", std::process::id());
        // The package's own script, not /usr/sbin's wrapper (which would
        // switch to the rabbitmq user and to the machine node's files).
        let child = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server")
            .env("HOME", base)
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_DIST_PORT", free_port().to_string())
            .env("RABBITMQ_CONFIG_FILE", base.join("rabbitmq"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                base.join("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", base.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", base.join("log"))
            .env("RABBITMQ_PID_FILE", &pid_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rabbitmq-server (the RabbitMQ server package) is installed");
        let mut broker = TlsBroker {
            port,
            tls,
            child,
            pid_file,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline && matches!(broker.child.try_wait(), Ok(None)),
                "RabbitMQ did not start with TLS; its logs are in {}",
                broker.dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The listener opens before the node has finished booting (and on
        // a busy machine a port can be someone else's): wait until this
        // node itself reports that it has started.
        let started = Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
            .env("HOME", broker.dir.path())
            .args(["-n", &node, "await_startup", "--timeout", "90"])
            .output()
            .expect("rabbitmqctl (the RabbitMQ server package) is installed");
        assert!(
            started.status.success(),
            "RabbitMQ did not finish starting: {}; its logs are in {}",
            String::from_utf8_lossy(&started.stderr),
            broker.dir.path().display()
        );
        broker
    }

    fn url(&self, password: &str) -> String {
        format!("amqps://worker:{password}@127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        // The script starts the Erlang VM, whose pid the node writes.
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_queue_over_amqps_works_verified_and_never_shows_the_password() {
    let broker = TlsBroker::start();
    let url = broker.url(PASSWORD);
    let ca = broker.tls.ca.to_str().expect("path").to_owned();
    let tasks: Vec<String> = chaos_tasks("t", 40, r#"{"action":"ok"}"#)
        .into_iter()
        .chain(std::iter::once(
            r#"{"id":"broken","payload":"x","plugin":"chaos","metadata":{"action":"fail"}}"#
                .to_owned(),
        ))
        .collect();
    let (_input_dir, input) = input_file(&tasks);
    let input = input.to_str().expect("path").to_owned();
    let with = |args: &[&str]| {
        let mut command = jobhost();
        command
            .args(args)
            .args(["--queue", &url, "--amqp-ca-cert", &ca])
            .env("JOBHOST_LOG", "debug");
        command
    };
    let queued = run(&mut with(&["enqueue", "--input", &input]));
    assert_eq!(queued.code, 0, "{queued:?}");
    let plugins = PluginDir::with(&["chaos"]);
    let plugins_dir = plugins.path().to_str().expect("path").to_owned();
    let worked = run(&mut with(&[
        "run",
        "--until-empty",
        "--plugins",
        &plugins_dir,
        "--max-attempts",
        "1",
    ]));
    assert_eq!(worked.code, 1, "one task fails: {worked:?}");
    assert_eq!(worked.records().len(), 40, "{worked:?}");
    let stats = run(&mut with(&["stats", "--json"]));
    assert_eq!(stats.code, 0, "{stats:?}");
    let counts: serde_json::Value = serde_json::from_str(&stats.stdout).expect("stats JSON");
    assert_eq!(
        (&counts["ready"], &counts["dead"]),
        (&0.into(), &1.into()),
        "{counts}"
    );
    let dead = run(&mut with(&["dead", "list"]));
    assert_eq!(dead.code, 0, "{dead:?}");
    assert!(dead.stdout.contains("broken"), "{dead:?}");

    // Without the CA the broker's certificate is refused (no silent skip
    // of verification), and says what to do; a wrong password is refused.
    let unverified = run(jobhost().args(["stats", "--queue", &url]));
    assert_eq!(unverified.code, 2, "{unverified:?}");
    assert!(
        unverified.stderr.to_lowercase().contains("certificate")
            && unverified.stderr.contains("--amqp-ca-cert"),
        "{unverified:?}"
    );
    let wrong = run(jobhost().args([
        "stats",
        "--queue",
        &broker.url("not-the-password"),
        "--amqp-ca-cert",
        &ca,
    ]));
    assert_eq!(wrong.code, 2, "{wrong:?}");
    let not_pem = run(jobhost().args(["stats", "--queue", &url, "--amqp-ca-cert", &input]));
    assert_eq!(not_pem.code, 2, "{not_pem:?}");
    assert!(not_pem.stderr.contains("no PEM certificate"), "{not_pem:?}");

    assert_hidden(
        &[
            &queued,
            &worked,
            &stats,
            &dead,
            &unverified,
            &wrong,
            &not_pem,
        ],
        &[PASSWORD, "not-the-password"],
    );
}
