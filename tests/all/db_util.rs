//! Helpers for the database sink's tests: a database of its own on the
//! machine's PostgreSQL and MariaDB (created, then dropped), a private
//! PostgreSQL cluster a test may stop and start, and runs of the binary
//! whose chaos plugin emits the records a test lists.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, Row};

use crate::util::{jobhost, run, PluginDir, Run};

/// Every column of every row of `sql` on a new connection of type `$conn`
/// to `$url` (the query casts each column to text; NULL is `None`).
macro_rules! text_rows {
    ($conn:ty, $url:expr, $sql:expr) => {{
        let (url, sql): (String, &str) = ($url, $sql);
        block_on(async {
            let mut conn = <$conn>::connect(&url).await.expect("connect");
            let rows = sqlx::query(sql)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.get::<Option<String>, _>(i))
                        .collect()
                })
                .collect()
        })
    }};
}

/// Run the statements `sql` on a new connection of type `$conn` to `$url`.
macro_rules! exec {
    ($conn:ty, $url:expr, $sql:expr) => {{
        let (url, sql): (String, &str) = ($url, $sql);
        block_on(async {
            let mut conn = <$conn>::connect(&url).await.expect("connect");
            sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }};
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{:x}", std::process::id(), fastrand::u64(..))
}

/// A PostgreSQL database of the test's own (`jh_…`), dropped at the end.
pub struct Pg {
    /// Where the server is (`postgres://root@127.0.0.1:PORT`).
    pub server: String,
    /// The database.
    pub name: String,
}

impl Pg {
    /// A new database on the machine's server (127.0.0.1:5432, trust).
    pub fn new() -> Pg {
        Self::on("postgres://root@127.0.0.1:5432")
    }

    /// A new database on the server at `server`.
    pub fn on(server: &str) -> Pg {
        let name = unique("jh");
        let admin = format!("{server}/postgres");
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create database");
        });
        Pg {
            server: server.to_owned(),
            name,
        }
    }

    /// The URL jobhost gets.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Run statements (separated by `;`).
    pub fn exec(&self, sql: &str) {
        exec!(sqlx::PgConnection, self.url(), sql)
    }

    /// The rows of a query, every column cast to text by the query itself
    /// (`SELECT a::text, …`); NULL is `None`.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        text_rows!(sqlx::PgConnection, self.url(), sql)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let admin = format!("{}/postgres", self.server);
        let name = self.name.clone();
        block_on(async {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// A MariaDB database of the test's own, dropped at the end.
pub struct Maria {
    /// The database.
    pub name: String,
}

impl Maria {
    /// A new database on the machine's server (root, no password).
    pub fn new() -> Maria {
        let name = unique("jh");
        block_on(async {
            let mut conn = sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306/test")
                .await
                .expect("MariaDB at 127.0.0.1:3306");
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create database");
        });
        Maria { name }
    }

    /// The URL jobhost gets.
    pub fn url(&self) -> String {
        format!("mariadb://root@127.0.0.1:3306/{}", self.name)
    }

    fn connect_url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.name)
    }

    /// Run statements.
    pub fn exec(&self, sql: &str) {
        exec!(sqlx::MySqlConnection, self.connect_url(), sql)
    }

    /// The rows of a query whose columns the query casts to CHAR.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        text_rows!(sqlx::MySqlConnection, self.connect_url(), sql)
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on(async {
            if let Ok(mut conn) =
                sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306/test").await
            {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// An SQLite file in a temporary folder.
pub struct Lite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Lite {
    pub fn new() -> Lite {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("records.db");
        Lite { _dir: dir, path }
    }

    pub fn url(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn connect_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path.display())
    }

    pub fn exec(&self, sql: &str) {
        exec!(sqlx::SqliteConnection, self.connect_url(), sql)
    }

    /// The rows of a query whose columns the query casts to TEXT.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        text_rows!(sqlx::SqliteConnection, self.connect_url(), sql)
    }
}

/// Rows as written in a test: `None` for NULL.
pub fn rows(expected: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    expected
        .iter()
        .map(|row| row.iter().map(|v| v.map(str::to_owned)).collect())
        .collect()
}

/// A task for the chaos plugin that emits `records` (pairs of content
/// type and JSON data).
pub fn emit(id: &str, records: &[(&str, serde_json::Value)]) -> String {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(content_type, data)| serde_json::json!({"content_type": content_type, "data": data}))
        .collect();
    serde_json::json!({
        "id": id,
        "url": format!("https://tracks.test/{id}"),
        "plugin": "chaos",
        "metadata": {"action": "emit"},
        "payload": {"records": records},
    })
    .to_string()
}

/// Run the chaos plugin on `tasks` (in-memory queue) into `output`, with
/// `args`; the dead letters are returned by [`SinkRun::dead`].
pub struct SinkRun {
    pub run: Run,
    dead: tempfile::NamedTempFile,
}

impl SinkRun {
    pub fn dead(&self) -> Vec<serde_json::Value> {
        crate::util::read_dead_letters(self.dead.path())
    }
}

pub fn sink_run(output: &str, tasks: &[String], args: &[&str]) -> SinkRun {
    let plugins = PluginDir::with(&["chaos"]);
    let input = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(input.path(), tasks.join("\n") + "\n").expect("write tasks");
    let dead = tempfile::NamedTempFile::new().expect("tempfile");
    let run = run(jobhost()
        .arg("run")
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--input")
        .arg(input.path())
        .arg("--output")
        .arg(output)
        .arg("--dead-letters")
        .arg(dead.path())
        .arg("--max-attempts")
        .arg("2")
        .arg("--retry-delay")
        .arg("10ms")
        .args(args));
    SinkRun { run, dead }
}

/// A private PostgreSQL cluster on a free port (initdb as the `postgres`
/// user, since PostgreSQL refuses to run as root), for tests that stop and
/// start the server. Stopped and removed at the end.
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn bin(tool: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries in /usr/lib/postgresql")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(tool)
}

fn as_postgres(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = if nix_is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--");
        c
    } else {
        Command::new("env")
    };
    command
        .arg(bin(args[0]))
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .expect("run a PostgreSQL tool")
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        if nix_is_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let port = crate::redis_util::free_port();
        let out = as_postgres(
            dir.path(),
            &[
                "initdb",
                "-D",
                data.to_str().expect("utf-8 path"),
                "-U",
                "root",
                "--auth=trust",
            ],
        );
        assert!(out.status.success(), "initdb: {out:?}");
        let cluster = PgCluster { dir, port };
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn server(&self) -> String {
        format!("postgres://root@127.0.0.1:{}", self.port)
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let out = as_postgres(
            self.dir.path(),
            &[
                "pg_ctl",
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    /// Stop the server now (`immediate`: as if it crashed).
    pub fn stop(&self) {
        let out = as_postgres(
            self.dir.path(),
            &[
                "pg_ctl",
                "-D",
                &self.data(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }

    /// Start the stopped server again.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    pub fn restart_after(&self, down: Duration) {
        self.stop();
        std::thread::sleep(down);
        self.pg_ctl_start();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres(
            self.dir.path(),
            &["pg_ctl", "-D", &self.data(), "-m", "immediate", "stop"],
        );
    }
}
