//! The database sink against real servers: the machine's PostgreSQL and
//! MariaDB (each test in a database of its own), SQLite files, and a
//! private PostgreSQL cluster that one test stops mid-run.

use serde_json::json;

use crate::db_util::{emit, rows, sink_run, Lite, Maria, Pg, PgCluster};
use crate::util::{jobhost, run, PluginDir};

const JSON: &str = "application/json";

/// A table whose every row insert or update is counted in `applied`.
const COUNTED_TRACKS: &str = "CREATE TABLE tracks (id text PRIMARY KEY, title text); \
    CREATE TABLE applied (n bigint); INSERT INTO applied VALUES (0); \
    CREATE FUNCTION count_apply() RETURNS trigger AS $$ BEGIN UPDATE applied SET n = n + 1; \
    RETURN NEW; END $$ LANGUAGE plpgsql; \
    CREATE TRIGGER counted AFTER INSERT OR UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION count_apply();";

/// `n` rows in [`COUNTED_TRACKS`], each written once: a batch applied
/// again (a commit lost with its connection, a job redelivered) finds its
/// rows unchanged and writes nothing.
fn assert_applied_once(pg: &Pg, n: usize) {
    let n = n.to_string();
    assert_eq!(
        pg.rows("SELECT count(*)::text FROM tracks"),
        rows(&[&[Some(&*n)]])
    );
    assert_eq!(
        pg.rows("SELECT n::text FROM applied"),
        rows(&[&[Some(&*n)]])
    );
}

const TRACKS_PG: &str = "CREATE TABLE tracks (id text PRIMARY KEY, title text NOT NULL, \
    genre text, plays int DEFAULT 7)";

#[test]
fn records_upsert_into_the_users_table_and_unchanged_rows_stay_untouched() {
    let pg = Pg::new();
    pg.exec(TRACKS_PG);
    let url = pg.url();
    let first = sink_run(
        &url,
        &[
            emit(
                "1",
                &[(JSON, json!({"id": "1", "title": "a", "genre": "jazz"}))],
            ),
            emit("2", &[(JSON, json!({"id": "2", "title": "b", "plays": 3}))]),
        ],
        &["--sink-table", "chaos=tracks"],
    );
    assert_eq!(first.run.code, 0, "{:?}", first.run);
    let query = "SELECT id, title, genre, plays::text FROM tracks ORDER BY id";
    assert_eq!(
        pg.rows(query),
        rows(&[
            // A column the record lacks takes its default on insert.
            &[Some("1"), Some("a"), Some("jazz"), Some("7")],
            &[Some("2"), Some("b"), None, Some("3")],
        ])
    );
    let xmin = pg.rows("SELECT id, xmin::text FROM tracks ORDER BY id");
    // Second round: 1 unchanged, 2 updated without `plays` (kept).
    let second = sink_run(
        &url,
        &[
            emit(
                "1",
                &[(JSON, json!({"id": "1", "title": "a", "genre": "jazz"}))],
            ),
            emit("2", &[(JSON, json!({"id": "2", "title": "b2"}))]),
        ],
        &["--sink-table", "chaos=tracks"],
    );
    assert_eq!(second.run.code, 0, "{:?}", second.run);
    assert_eq!(
        pg.rows(query),
        rows(&[
            &[Some("1"), Some("a"), Some("jazz"), Some("7")],
            &[Some("2"), Some("b2"), None, Some("3")],
        ])
    );
    let after = pg.rows("SELECT id, xmin::text FROM tracks ORDER BY id");
    assert_eq!(after[0], xmin[0], "the unchanged row got a new tuple");
    assert_ne!(after[1], xmin[1], "the changed row was not updated");
}

#[test]
fn records_the_table_cannot_take_fail_their_job_and_say_what_to_do() {
    let pg = Pg::new();
    pg.exec(TRACKS_PG);
    pg.exec("CREATE TABLE secrets (id text PRIMARY KEY, value text)");
    let done = sink_run(
        &pg.url(),
        &[
            emit("ok", &[(JSON, json!({"id": "ok", "title": "fine"}))]),
            emit(
                "extra",
                &[(JSON, json!({"id": "x", "title": "t", "mood": "sad"}))],
            ),
            emit("nokey", &[(JSON, json!({"title": "t"}))]),
            emit(
                "other",
                &[(
                    "application/json; table=secrets",
                    json!({"id": "s", "value": "v"}),
                )],
            ),
            emit("text", &[("text/plain", json!("hello"))]),
        ],
        &["--sink-table", "chaos=tracks"],
    );
    assert_eq!(done.run.code, 1, "{:?}", done.run);
    let errors: std::collections::HashMap<String, String> = done
        .dead()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap_or_default().to_owned(),
                d["error"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    let extra = &errors["extra"];
    assert!(
        extra.contains("`mood`")
            && extra.contains("table `tracks`")
            && extra.contains("ADD COLUMN"),
        "{extra}"
    );
    assert!(
        errors["nokey"].contains("lacks `id`"),
        "{}",
        errors["nokey"]
    );
    assert!(
        errors["other"].contains("--sink-table chaos=secrets"),
        "{}",
        errors["other"]
    );
    assert!(
        errors["text"].contains("takes JSON records"),
        "{}",
        errors["text"]
    );
    // The job that was fine committed; nothing reached the other table.
    assert_eq!(pg.rows("SELECT id FROM tracks"), rows(&[&[Some("ok")]]));
    assert!(pg.rows("SELECT id FROM secrets").is_empty());
}

#[test]
fn a_row_the_database_refuses_buries_its_job_and_the_batch_still_commits() {
    let pg = Pg::new();
    pg.exec(TRACKS_PG);
    let mut tasks: Vec<String> = (0..40)
        .map(|i| {
            emit(
                &format!("t{i}"),
                &[(JSON, json!({"id": format!("t{i}"), "title": "x"}))],
            )
        })
        .collect();
    // A NOT NULL violation and a type mismatch, among the others.
    tasks.insert(
        10,
        emit("null", &[(JSON, json!({"id": "null", "title": null}))]),
    );
    tasks.insert(
        20,
        emit(
            "type",
            &[(JSON, json!({"id": "type", "title": "x", "plays": "many"}))],
        ),
    );
    let done = sink_run(
        &pg.url(),
        &tasks,
        &["--sink-table", "tracks", "--sink-batch-wait", "50ms"],
    );
    assert_eq!(done.run.code, 1, "{:?}", done.run);
    let dead = done.dead();
    assert_eq!(dead.len(), 2, "{dead:?}");
    for letter in &dead {
        let error = letter["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("the database refused the job's rows for table `tracks`"),
            "{error}"
        );
        match letter["id"].as_str() {
            Some("null") => assert!(error.contains("null value"), "{error}"),
            Some("type") => assert!(error.contains("integer"), "{error}"),
            other => panic!("unexpected dead job {other:?}"),
        }
    }
    assert_eq!(
        pg.rows("SELECT count(*)::text FROM tracks"),
        rows(&[&[Some("40")]])
    );
}

#[test]
fn deletes_remove_or_mark_rows_and_a_version_column_keeps_the_newest() {
    let pg = Pg::new();
    pg.exec("CREATE TABLE tracks (id text PRIMARY KEY, title text, v int, deleted_at timestamptz)");
    let url = pg.url();
    let seed = |ids: &[&str], args: &[&str]| {
        let tasks: Vec<String> = ids
            .iter()
            .map(|id| emit(id, &[(JSON, json!({"id": id, "title": "t", "v": 1}))]))
            .collect();
        let done = sink_run(&url, &tasks, args);
        assert_eq!(done.run.code, 0, "{:?}", done.run);
    };
    seed(&["1", "2", "3"], &["--sink-table", "tracks"]);
    let delete = "application/json; op=delete";
    let done = sink_run(
        &url,
        &[emit("d", &[(delete, json!({"id": "2"}))])],
        &["--sink-table", "tracks"],
    );
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    assert_eq!(
        pg.rows("SELECT id FROM tracks ORDER BY id"),
        rows(&[&[Some("1")], &[Some("3")]])
    );
    // Soft: the row stays, marked; an upsert brings it back.
    let soft = ["--sink-table", "tracks", "--sink-soft-delete", "deleted_at"];
    let done = sink_run(&url, &[emit("d", &[(delete, json!({"id": "3"}))])], &soft);
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    let marked = "SELECT id, (deleted_at IS NOT NULL)::text FROM tracks ORDER BY id";
    assert_eq!(
        pg.rows(marked),
        rows(&[&[Some("1"), Some("false")], &[Some("3"), Some("true")]])
    );
    seed(&["3"], &soft);
    assert_eq!(
        pg.rows(marked),
        rows(&[&[Some("1"), Some("false")], &[Some("3"), Some("false")]])
    );
    // Versions: an older record loses; within one job, two records of one
    // row apply in order.
    let versioned = ["--sink-table", "tracks", "--sink-version-column", "v"];
    let done = sink_run(
        &url,
        &[emit(
            "new",
            &[(JSON, json!({"id": "1", "title": "v5", "v": 5}))],
        )],
        &versioned,
    );
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    let done = sink_run(
        &url,
        &[
            emit("old", &[(JSON, json!({"id": "1", "title": "v4", "v": 4}))]),
            emit(
                "twice",
                &[
                    (JSON, json!({"id": "3", "title": "first", "v": 2})),
                    (JSON, json!({"id": "3", "title": "second", "v": 2})),
                ],
            ),
            emit("old-delete", &[(delete, json!({"id": "1", "v": 3}))]),
        ],
        &versioned,
    );
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    assert_eq!(
        pg.rows("SELECT id, title, v::text FROM tracks ORDER BY id"),
        rows(&[
            &[Some("1"), Some("v5"), Some("5")],
            &[Some("3"), Some("second"), Some("2")],
        ])
    );
}

#[test]
fn one_job_writes_several_allowed_tables_and_unconfigured_records_go_raw() {
    let pg = Pg::new();
    pg.exec("CREATE TABLE tracks (id text PRIMARY KEY, artist_id text)");
    pg.exec("CREATE TABLE artists (id text PRIMARY KEY, name text)");
    let done = sink_run(
        &pg.url(),
        &[emit(
            "1",
            &[
                (JSON, json!({"id": "t1", "artist_id": "a1"})),
                (
                    "application/json; table=artists",
                    json!({"id": "a1", "name": "Kira"}),
                ),
            ],
        )],
        &[
            "--sink-table",
            "chaos=tracks",
            "--sink-table",
            "chaos=artists",
        ],
    );
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    assert_eq!(
        pg.rows("SELECT id, artist_id FROM tracks"),
        rows(&[&[Some("t1"), Some("a1")]])
    );
    assert_eq!(
        pg.rows("SELECT id, name FROM artists"),
        rows(&[&[Some("a1"), Some("Kira")]])
    );

    // No table configured: jobhost's own table, created on first use.
    let raw = Pg::new();
    let record = json!({"id": "t1", "nested": {"a": [1, 2]}});
    let done = sink_run(&raw.url(), &[emit("r1", &[(JSON, record.clone())])], &[]);
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    let stored = raw.rows("SELECT plugin, key, record::text, task_id FROM jobhost_records");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0][0].as_deref(), Some("chaos"));
    assert_eq!(stored[0][1].as_deref(), Some("https://tracks.test/r1"));
    let value: serde_json::Value =
        serde_json::from_str(stored[0][2].as_deref().unwrap_or("null")).expect("json");
    assert_eq!(value, record);
    assert_eq!(stored[0][3].as_deref(), Some("r1"));
}

#[test]
fn mariadb_upserts_deletes_refuses_and_leaves_unchanged_rows_alone() {
    let db = Maria::new();
    db.exec(
        "CREATE TABLE tracks (id VARCHAR(20) PRIMARY KEY, title VARCHAR(50) NOT NULL, plays INT DEFAULT 7, \
         touched TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))",
    );
    let url = db.url();
    let args = ["--sink-table", "tracks"];
    let done = sink_run(
        &url,
        &[
            emit("1", &[(JSON, json!({"id": "1", "title": "a"}))]),
            emit("2", &[(JSON, json!({"id": "2", "title": "b", "plays": 3}))]),
            emit("3", &[(JSON, json!({"id": "3", "title": "c"}))]),
            emit(
                "bad",
                &[(JSON, json!({"id": "4", "title": "d", "plays": "many"}))],
            ),
        ],
        &args,
    );
    assert_eq!(done.run.code, 1, "{:?}", done.run);
    let dead = done.dead();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["id"], "bad");
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("refused"),
        "{dead:?}"
    );
    let touched = db.rows("SELECT id, CAST(touched AS CHAR) FROM tracks ORDER BY id");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let delete = "application/json; op=delete";
    let done = sink_run(
        &url,
        &[
            emit("1", &[(JSON, json!({"id": "1", "title": "a"}))]),
            emit("2", &[(JSON, json!({"id": "2", "title": "b2"}))]),
            emit("3", &[(delete, json!({"id": "3"}))]),
        ],
        &args,
    );
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    assert_eq!(
        db.rows("SELECT id, title, CAST(plays AS CHAR) FROM tracks ORDER BY id"),
        rows(&[
            &[Some("1"), Some("a"), Some("7")],
            &[Some("2"), Some("b2"), Some("3")]
        ])
    );
    let after = db.rows("SELECT id, CAST(touched AS CHAR) FROM tracks ORDER BY id");
    assert_eq!(after[0], touched[0], "the unchanged row was rewritten");
    assert_ne!(after[1], touched[1], "the changed row was not updated");

    // Raw mode creates its own table.
    let raw = Maria::new();
    let done = sink_run(&raw.url(), &[emit("r", &[(JSON, json!({"k": 1}))])], &[]);
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    assert_eq!(
        raw.rows("SELECT plugin, CAST(`key` AS CHAR), task_id FROM jobhost_records"),
        rows(&[&[Some("chaos"), Some("https://tracks.test/r"), Some("r")]])
    );
}

#[test]
fn sqlite_upserts_deletes_refuses_and_leaves_unchanged_rows_alone() {
    let db = Lite::new();
    db.exec(
        "CREATE TABLE tracks (id TEXT PRIMARY KEY, title TEXT NOT NULL, plays INTEGER DEFAULT 7); \
         CREATE TABLE writes (n INTEGER); INSERT INTO writes VALUES (0); \
         CREATE TRIGGER counted AFTER UPDATE ON tracks BEGIN UPDATE writes SET n = n + 1; END;",
    );
    let url = db.url();
    let args = ["--sink-table", "tracks"];
    let done = sink_run(
        &url,
        &[
            emit("1", &[(JSON, json!({"id": "1", "title": "a"}))]),
            emit("2", &[(JSON, json!({"id": "2", "title": "b", "plays": 3}))]),
            emit("bad", &[(JSON, json!({"id": "3", "title": null}))]),
        ],
        &args,
    );
    assert_eq!(done.run.code, 1, "{:?}", done.run);
    let dead = done.dead();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("NOT NULL"),
        "{dead:?}"
    );
    let delete = "application/json; op=delete";
    let done = sink_run(
        &url,
        &[
            emit("1", &[(JSON, json!({"id": "1", "title": "a"}))]),
            emit("2", &[(delete, json!({"id": "2"}))]),
        ],
        &args,
    );
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    assert_eq!(
        db.rows("SELECT id, title, CAST(plays AS TEXT) FROM tracks ORDER BY id"),
        rows(&[&[Some("1"), Some("a"), Some("7")]])
    );
    // The unchanged upsert of 1 updated nothing.
    assert_eq!(
        db.rows("SELECT CAST(n AS TEXT) FROM writes"),
        rows(&[&[Some("0")]])
    );

    // Raw mode creates its own table in a new file; an unchanged record
    // keeps its row (and its `updated_at`) as it was.
    let raw = Lite::new();
    let task = emit("r", &[(JSON, json!({"k": 1}))]);
    let done = sink_run(&raw.url(), std::slice::from_ref(&task), &[]);
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    let query = "SELECT plugin, key, record, task_id, updated_at FROM jobhost_records";
    let first = raw.rows(query);
    assert_eq!(first.len(), 1);
    let expected = rows(&[&[
        Some("chaos"),
        Some("https://tracks.test/r"),
        Some("{\"k\":1}"),
        Some("r"),
    ]]);
    assert_eq!(first[0][..4], expected[0]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let done = sink_run(&raw.url(), &[task], &[]);
    assert_eq!(done.run.code, 0, "{:?}", done.run);
    assert_eq!(raw.rows(query), first);
}

#[test]
fn a_database_that_cannot_be_used_at_start_is_exit_2_and_hides_the_password() {
    let plugins = PluginDir::with(&["chaos"]);
    let port = crate::redis_util::free_port();
    let unreachable = format!("postgres://root:s3cret-pw@127.0.0.1:{port}/nothing");
    let out = run(jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .args([
            "--output",
            &unreachable,
            "--plugin",
            "chaos",
            "https://e.test/1",
        ]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("cannot connect to the database"),
        "{out:?}"
    );
    assert!(out.stderr.contains("root:***@127.0.0.1"), "{out:?}");
    assert!(!out.stderr.contains("s3cret-pw"), "{out:?}");

    let pg = Pg::new();
    let out = run(jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .args([
            "--output",
            &pg.url(),
            "--sink-table",
            "tracks",
            "--plugin",
            "chaos",
            "https://e.test/1",
        ]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("table `tracks` does not exist"),
        "{out:?}"
    );

    let out = run(jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .args([
            "--sink-table",
            "tracks",
            "--plugin",
            "chaos",
            "https://e.test/1",
        ]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("--sink-table") && out.stderr.contains("database"),
        "{out:?}"
    );
}

#[test]
fn a_postgres_restart_mid_run_loses_nothing_and_applies_nothing_twice() {
    let cluster = PgCluster::start();
    let pg = Pg::on(&cluster.server());
    pg.exec(COUNTED_TRACKS);
    let n = 3000;
    // Each job is slowed a little (busy 1 ms) so that the run outlasts
    // the restart.
    let tasks: Vec<String> = (0..n)
        .map(|i| {
            json!({
                "id": format!("t{i}"),
                "url": format!("https://tracks.test/{i}"),
                "plugin": "chaos",
                "metadata": {"action": "emit"},
                "payload": {"records": [{"content_type": JSON, "data": {"id": format!("t{i}"), "title": "x"}}]},
            })
            .to_string()
        })
        .collect();
    let plugins = PluginDir::with(&["chaos"]);
    let input = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(input.path(), tasks.join("\n") + "\n").expect("write");
    let child = jobhost()
        .args(["run", "--plugins"])
        .arg(plugins.path())
        .arg("--input")
        .arg(input.path())
        .args([
            "--output",
            &pg.url(),
            "--sink-table",
            "tracks",
            "--concurrency",
            "4",
            "--sink-batch-rows",
            "20",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait for the first rows, then stop the server for two seconds.
    let started = std::time::Instant::now();
    loop {
        let count: u64 = pg.rows("SELECT count(*)::text FROM tracks")[0][0]
            .as_deref()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        if count > 0 {
            assert!(count < n, "the run ended before the restart: slow it down");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no rows came"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cluster.restart_after(std::time::Duration::from_secs(2));
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("done {n}, retried 0, dead 0")),
        "{stderr}"
    );
    // The host saw the server go: a batch failed and was retried, or the
    // pool lost its connection and waited for a new one.
    assert!(
        stderr.contains("retrying a batch") || stderr.contains("immediate shutdown"),
        "the outage was not seen: {stderr}"
    );
    assert_applied_once(&pg, 3000);
}

#[test]
fn the_seeds_job_two_hosts_fill_the_tracks_table_from_a_redis_list() {
    use crate::redis_util::RedisServer;
    use crate::util::TestServer;
    let redis = RedisServer::start(false);
    let server = TestServer::start();
    let pg = Pg::new();
    pg.exec(
        "CREATE TABLE tracks (id text PRIMARY KEY, title text NOT NULL, artist text NOT NULL, \
         album text, genre text, duration_seconds bigint NOT NULL, release_year smallint, \
         source_url text NOT NULL); \
         INSERT INTO tracks VALUES ('gone', 'Old', 'Someone', NULL, NULL, 100, NULL, 'x')",
    );
    let n = 300;
    {
        let mut tracks = server.state.tracks.lock().expect("lock");
        for i in 0..n {
            let doc = json!({"id": i, "title": format!(" Track  {i} "), "artist": {"name": "Kira Vale"},
                "genre": "Jazz", "duration_ms": 245_500, "release_date": "2021-03-12"});
            tracks.insert(i.to_string(), doc.to_string().into_bytes());
        }
    }
    // The seed's producer: bare URLs RPUSHed onto its list; the track
    // `gone` is not served any more (404).
    let mut conn = redis.conn();
    let mut urls: Vec<String> = (0..n)
        .map(|i| server.url(&format!("/tracks/{i}")))
        .collect();
    urls.push(server.url("/tracks/gone"));
    let _: i64 = redis::cmd("RPUSH")
        .arg("music_task_queue")
        .arg(&urls)
        .query(&mut conn)
        .expect("rpush");
    let plugins = PluginDir::with(&["music-sync"]);
    let hosts: Vec<std::process::Child> = (0..2)
        .map(|_| {
            jobhost()
                .args([
                    "run",
                    "--queue",
                    &redis.url(),
                    "--redis-list",
                    "music_task_queue",
                    "--until-empty",
                ])
                .arg("--plugins")
                .arg(plugins.path())
                .args([
                    "--output",
                    &pg.url(),
                    "--sink-table",
                    "music-sync=tracks",
                    "--threads",
                    "1",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for host in hosts {
        let output = host.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
    }
    assert_eq!(
        pg.rows("SELECT count(*)::text FROM tracks"),
        rows(&[&[Some(&*n.to_string())]])
    );
    assert_eq!(
        pg.rows(
            "SELECT id, title, artist, album, genre, duration_seconds::text, release_year::text, \
             source_url FROM tracks WHERE id = '7'"
        ),
        vec![vec![
            Some("7".to_owned()),
            Some("Track 7".to_owned()),
            Some("Kira Vale".to_owned()),
            None,
            Some("jazz".to_owned()),
            Some("246".to_owned()),
            Some("2021".to_owned()),
            Some(server.url("/tracks/7")),
        ]]
    );
    assert!(pg
        .rows("SELECT id FROM tracks WHERE id = 'gone'")
        .is_empty());
}

#[test]
fn jobs_are_acknowledged_only_after_their_rows_commit_so_a_host_killed_meanwhile_loses_nothing() {
    use crate::redis_util::{enqueue, stats, RedisServer};
    let redis = RedisServer::start(false);
    let cluster = PgCluster::start();
    let pg = Pg::on(&cluster.server());
    pg.exec(COUNTED_TRACKS);
    let plugins = PluginDir::with(&["chaos"]);
    let host = |extra: &[&str]| {
        jobhost()
            .args(["run", "--queue", &redis.url(), "--lease", "1s", "--plugins"])
            .arg(plugins.path())
            .args(["--output", &pg.url(), "--sink-table", "tracks"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    // Host A starts while the database is up, then loses it.
    let mut a = host(&[]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    cluster.stop();
    let n = 200;
    let tasks: Vec<String> = (0..n)
        .map(|i| {
            emit(
                &format!("t{i}"),
                &[(JSON, json!({"id": format!("t{i}"), "title": "x"}))],
            )
        })
        .collect();
    let queued = enqueue(&redis, &tasks, &[]);
    assert_eq!(queued.code, 0, "{queued:?}");
    // A runs every job, but none can commit: none is acknowledged.
    let started = std::time::Instant::now();
    loop {
        let now = stats(&redis);
        assert_eq!(
            now["done"].as_u64(),
            Some(0),
            "acknowledged before commit: {now}"
        );
        if now["ready"].as_u64() == Some(0) || started.elapsed() > std::time::Duration::from_secs(5)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let held = stats(&redis);
    assert_eq!(held["done"].as_u64(), Some(0), "{held}");
    assert!(held["in_flight"].as_u64().unwrap_or(0) > 0, "{held}");
    // A dies; the database comes back; B takes over A's jobs.
    let _ = a.kill();
    let _ = a.wait();
    cluster.start_again();
    let b = host(&["--until-empty"]);
    let output = b.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let after = stats(&redis);
    assert_eq!(after["done"].as_u64(), Some(n), "{after}");
    assert_eq!(after["dead"].as_u64(), Some(0), "{after}");
    assert_applied_once(&pg, 200);
}

#[test]
fn mariadb_and_sqlite_honour_versions_and_soft_deletes_too() {
    let maria = Maria::new();
    maria.exec(
        "CREATE TABLE tracks (id VARCHAR(20) PRIMARY KEY, title VARCHAR(50), v INT, \
         deleted_at TIMESTAMP(6) NULL)",
    );
    let lite = Lite::new();
    lite.exec("CREATE TABLE tracks (id TEXT PRIMARY KEY, title TEXT, v INTEGER, deleted_at TEXT)");
    let delete = "application/json; op=delete";
    let args = [
        "--sink-table",
        "tracks",
        "--sink-version-column",
        "v",
        "--sink-soft-delete",
        "deleted_at",
    ];
    for (url, query) in [
        (
            maria.url(),
            "SELECT id, title, CAST(v AS CHAR), CAST(deleted_at IS NOT NULL AS CHAR) FROM tracks ORDER BY id",
        ),
        (
            lite.url(),
            "SELECT id, title, CAST(v AS TEXT), CAST(deleted_at IS NOT NULL AS TEXT) FROM tracks ORDER BY id",
        ),
    ] {
        let round = |tasks: &[String]| {
            let done = sink_run(&url, tasks, &args);
            assert_eq!(done.run.code, 0, "{url}: {:?}", done.run);
        };
        round(&[
            emit("a", &[(JSON, json!({"id": "1", "title": "v5", "v": 5}))]),
            emit("b", &[(JSON, json!({"id": "2", "title": "v1", "v": 1}))]),
        ]);
        round(&[
            // Older than the row: ignored. Newer: applied.
            emit("c", &[(JSON, json!({"id": "1", "title": "v4", "v": 4}))]),
            emit("d", &[(JSON, json!({"id": "2", "title": "v2", "v": 2}))]),
        ]);
        // An old delete is ignored; a current one marks the row.
        round(&[
            emit("e", &[(delete, json!({"id": "1", "v": 3}))]),
            emit("f", &[(delete, json!({"id": "2", "v": 2}))]),
        ]);
        let (maria_rows, lite_rows);
        let got = if url.starts_with("mariadb") {
            maria_rows = maria.rows(query);
            &maria_rows
        } else {
            lite_rows = lite.rows(query);
            &lite_rows
        };
        assert_eq!(
            *got,
            rows(&[
                &[Some("1"), Some("v5"), Some("5"), Some("0")],
                &[Some("2"), Some("v2"), Some("2"), Some("1")],
            ]),
            "{url}"
        );
        // An upsert brings the soft-deleted row back.
        round(&[emit("g", &[(JSON, json!({"id": "2", "title": "back", "v": 3}))])]);
        let back = if url.starts_with("mariadb") {
            maria.rows(query)
        } else {
            lite.rows(query)
        };
        assert_eq!(back[1], rows(&[&[Some("2"), Some("back"), Some("3"), Some("0")]])[0], "{url}");
    }
}

#[test]
fn hosts_starting_together_all_find_the_raw_table() {
    let pg = Pg::new();
    let url = pg.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let connected: Vec<_> = runtime.block_on(async {
        let starts: Vec<_> = (0..6)
            .map(|_| {
                let options = jobhost::db::DbOptions::new(url.clone());
                tokio::spawn(jobhost::db::DbSink::connect(options))
            })
            .collect();
        let mut results = Vec::new();
        for start in starts {
            results.push(
                start
                    .await
                    .expect("joined")
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        }
        results
    });
    assert!(connected.iter().all(Result::is_ok), "{connected:?}");
    assert_eq!(
        pg.rows("SELECT count(*)::text FROM information_schema.tables WHERE table_name = 'jobhost_records'"),
        rows(&[&[Some("1")]])
    );
}
