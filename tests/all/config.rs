//! The config file: settings grouped as `run --help` groups the flags, under
//! the environment and the flags; `jobhost config` shows each value's
//! source with passwords redacted; bad keys and values named by line.

use crate::util::*;

fn config_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobhost.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let (dir, _) = config_file(
        "# settings\n\
         [jobs]\n\
         concurrency = 64\n\
         max_attempts = 9\n\
         [fetch]\n\
         max_body = \"5MiB\"\n\
         allow_host = [\"a.example\", \"*.b.example\"]\n\
         [queue]\n\
         queue = \"redis://worker:s3cret-pw@127.0.0.1:6379\"\n",
    );
    // Found in the working directory, as ./jobhost.toml.
    let shown = run(jobhost()
        .current_dir(dir.path())
        .env("JOBHOST_MAX_BODY", "7MiB")
        .args(["config", "--concurrency", "32"]));
    assert_eq!(shown.code, 0, "{shown:?}");
    let line = |key: &str| {
        shown
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key}: {shown:?}"))
            .to_owned()
    };
    assert_eq!(
        line("jobs.concurrency"),
        "jobs.concurrency = \"32\"  # flag"
    );
    assert_eq!(
        line("jobs.max_attempts"),
        "jobs.max_attempts = \"9\"  # file, line 4 (jobhost.toml)"
    );
    assert_eq!(
        line("fetch.max_body"),
        "fetch.max_body = \"7MiB\"  # environment, JOBHOST_MAX_BODY"
    );
    assert!(line("fetch.allow_host").contains("a.example, *.b.example"));
    assert_eq!(
        line("queue.queue"),
        "queue.queue = \"redis://worker:***@127.0.0.1:6379\"  # file, line 9 (jobhost.toml)"
    );
    assert!(line("sandbox.max_memory").ends_with("# default"));
    assert!(!format!("{shown:?}").contains("s3cret-pw"), "{shown:?}");
}

#[test]
fn a_run_uses_what_the_file_says() {
    let server = TestServer::start();
    let track = std::fs::read(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample track");
    server.add_track("1", &track);
    let plugins = PluginDir::with(&["music-sync"]);
    let (_dir, file) = config_file("[fetch]\nmax_body = 10\n[jobs]\nplugin = \"music-sync\"\n");
    let run = run(jobhost()
        .arg("run")
        .arg("--config")
        .arg(&file)
        .arg("--plugins")
        .arg(plugins.path())
        .arg(server.url("/tracks/1")));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("exceeds the limit of 10 bytes"),
        "{run:?}"
    );
}

#[test]
fn keys_and_values_that_cannot_be_used_are_named_by_line() {
    for (text, says) in [
        (
            "[fetch]\nmax_bdy = 1\n",
            "line 2: `fetch.max_bdy` is not a setting",
        ),
        (
            "[jobs]\n\nmax_body = 1\n",
            "line 3: `jobs.max_body` is not a setting (it goes in [fetch])",
        ),
        (
            "[fetch]\nmax_body = \"ten\"\n",
            "line 2: `fetch.max_body`: invalid value 'ten'",
        ),
        (
            "[fetch]\nconditional = \"yes\"\n",
            "line 2: `fetch.conditional`: expected true or false",
        ),
        (
            "[jobs]\nconcurrency = [1, 2]\n",
            "line 2: `jobs.concurrency`: expected one value, found a list",
        ),
        ("[fetch\n", "line 1: not valid TOML"),
    ] {
        let (_dir, file) = config_file(text);
        let run = run(jobhost()
            .arg("--config")
            .arg(&file)
            .args(["run", "https://example.com/x"]));
        assert_eq!(run.code, 2, "{text}: {run:?}");
        assert!(run.stderr.contains(says), "{text}: {run:?}");
    }
    let run = run(jobhost().args(["run", "--config", "/nonexistent/jobhost.toml", "x"]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no such file"), "{run:?}");
}
