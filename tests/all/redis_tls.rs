//! `rediss://` with an ACL user: a redis-server the test starts with TLS
//! only (a CA and certificate the test makes) and a user limited to
//! jobhost's keys; the queue, the kv store and the admin commands work
//! through it, and the password shows nowhere.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_util::free_port;
use crate::util::*;

const PASSWORD: &str = "s3cret-acl-pw-5d1e";

/// A TLS-only redis-server whose `worker` user may touch `jobhost:*` only.
struct TlsRedis {
    port: u16,
    tls: TlsFiles,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start() -> Self {
        let tls = TlsFiles::make();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "port 0\ntls-port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\n\
                 tls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no\n\
                 user default off\n\
                 user worker on >{PASSWORD} ~jobhost:* &* +@all -@dangerous\n",
                tls.cert.display(),
                tls.key.display(),
                tls.ca.display()
            ),
        )
        .expect("redis.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start with TLS"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsRedis {
            port,
            tls,
            child,
            _dir: dir,
        }
    }

    fn url(&self, password: &str) -> String {
        format!("rediss://worker:{password}@127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_queue_over_tls_with_an_acl_user_works_and_never_shows_the_password() {
    let redis = TlsRedis::start();
    let url = redis.url(PASSWORD);
    let ca = redis.tls.ca.to_str().expect("path").to_owned();
    let track = std::fs::read_to_string(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample");
    let track: serde_json::Value = serde_json::from_str(&track).expect("json");
    let tasks: Vec<String> = (0..20)
        .map(|i| {
            let mut doc = track.clone();
            doc["id"] = format!("{}", 5000 + i).into();
            serde_json::json!({"id": format!("t{i}"), "payload": doc, "plugin": "music-sync"})
                .to_string()
        })
        .chain(std::iter::once(
            r#"{"id":"broken","payload":{"id":"x"},"plugin":"music-sync"}"#.to_owned(),
        ))
        .collect();
    let (_input_dir, input) = input_file(&tasks);
    let with = |args: &[&str]| {
        let mut command = jobhost();
        command
            .args(args)
            .args(["--queue", &url, "--redis-ca-cert", &ca])
            .env("JOBHOST_LOG", "debug");
        command
    };
    let input = input.to_str().expect("path").to_owned();
    let queued = run(&mut with(&["enqueue", "--input", &input]));
    assert_eq!(queued.code, 0, "{queued:?}");
    let plugins = PluginDir::with(&["music-sync"]);
    let plugins_dir = plugins.path().to_str().expect("path").to_owned();
    let worked = run(&mut with(&[
        "run",
        "--until-empty",
        "--plugins",
        &plugins_dir,
    ]));
    assert_eq!(worked.code, 1, "one task is broken: {worked:?}");
    assert_eq!(worked.records().len(), 20, "{worked:?}");
    let stats = run(&mut with(&["stats", "--json"]));
    assert_eq!(stats.code, 0, "{stats:?}");
    let counts: serde_json::Value = serde_json::from_str(&stats.stdout).expect("stats JSON");
    assert_eq!(
        (&counts["done"], &counts["dead"]),
        (&20.into(), &1.into()),
        "{counts}"
    );
    let dead = run(&mut with(&["dead", "list"]));
    assert_eq!(dead.code, 0, "{dead:?}");
    assert!(dead.stdout.contains("broken"), "{dead:?}");

    // The CA is required (no silent skip of verification), and a wrong
    // password is refused; neither message shows a password.
    let unverified = run(jobhost().args(["stats", "--queue", &url]));
    assert_eq!(unverified.code, 2, "{unverified:?}");
    assert!(
        unverified.stderr.to_lowercase().contains("certificate"),
        "{unverified:?}"
    );
    let wrong = run(jobhost().args([
        "stats",
        "--queue",
        &redis.url("not-the-password"),
        "--redis-ca-cert",
        &ca,
    ]));
    assert_eq!(wrong.code, 2, "{wrong:?}");

    // The user really is limited to jobhost's keys: everything above ran
    // under an ACL that refuses any other key.
    let client = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&redis.tls.ca).expect("CA")),
        },
    )
    .expect("client");
    let mut conn = client.get_connection().expect("TLS connection");
    let refused = redis::cmd("SET")
        .arg("not-jobhost")
        .arg("x")
        .query::<()>(&mut conn)
        .expect_err("the ACL refuses keys outside jobhost:*");
    assert!(
        refused
            .to_string()
            .to_lowercase()
            .contains("no permissions"),
        "{refused}"
    );
    let foreign = run(&mut with(&["stats", "--queue-name", "x"]));
    assert_eq!(
        foreign.code, 0,
        "any queue name stays in jobhost:*: {foreign:?}"
    );

    assert_hidden(
        &[
            &queued,
            &worked,
            &stats,
            &dead,
            &unverified,
            &wrong,
            &foreign,
        ],
        &[PASSWORD, "not-the-password"],
    );
}
