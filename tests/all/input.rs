//! Input handling: malformed lines, standard input, usage errors.

use std::io::Write;
use std::process::Stdio;

use crate::util::*;

#[test]
fn malformed_lines_are_reported_by_number_and_nothing_else_is_lost() {
    let plugins = PluginDir::with(&["template"]);
    let (_dir, input) = input_file(&[
        r#"{"id":"good1","payload":"one"}"#.to_owned(),
        "not a url".to_owned(),
        r#"{"url": 5}"#.to_owned(),
        r#"{"url":"https://example.invalid/x","bogus":1}"#.to_owned(),
        "# a comment, ignored".to_owned(),
        "ftp://example.invalid/file".to_owned(),
        r#"{"id":"good2","payload":{"two":2}}"#.to_owned(),
        r#"{"id":"oops""#.to_owned(),
    ]);
    let run = run(jobhost()
        .args(["run", "--plugin", "template", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path()));
    assert_eq!(run.code, 1, "{run:?}");
    for (line, text) in [
        (2, "invalid URL `not a url`"),
        (3, "invalid JSON task"),
        (4, "unknown field `bogus`"),
        (6, "scheme `ftp` is not supported"),
        (8, "invalid JSON task"),
    ] {
        let prefix = format!("line {line}: ");
        let reported = run.stderr.lines().find(|l| l.contains(&prefix));
        assert!(
            reported.is_some_and(|l| l.contains(text) && l.contains("line skipped")),
            "line {line} should be reported with {text:?}: {run:?}"
        );
    }
    let mut ids: Vec<String> = run
        .records()
        .iter()
        .map(|r| r["task_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["good1", "good2"], "{run:?}");
    assert!(
        run.stderr
            .contains("done 2, retried 0, dead 0, invalid input 5"),
        "{run:?}"
    );
}

#[test]
fn tasks_stream_from_standard_input() {
    let plugins = PluginDir::with(&["template"]);
    let mut child = jobhost()
        .args(["run", "--plugin", "template", "--input", "-", "--plugins"])
        .arg(plugins.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..100 {
            writeln!(stdin, r#"{{"id":"s{i}","payload":"body {i}"}}"#).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 100);
}

#[test]
fn usage_and_configuration_errors_exit_2_with_a_clear_message() {
    let nothing = run(jobhost().args(["run"]));
    assert_eq!(nothing.code, 2, "{nothing:?}");
    assert!(nothing.stderr.contains("nothing to run"), "{nothing:?}");

    let missing = run(jobhost().args([
        "run",
        "https://example.invalid/",
        "--plugins",
        "/no/such/dir",
    ]));
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("cannot read the plugins folder /no/such/dir"),
        "{missing:?}"
    );
    // The cause is said once, not again as a chained source.
    assert_eq!(
        missing.stderr.matches("os error 2").count(),
        1,
        "{missing:?}"
    );

    let empty = tempfile::tempdir().unwrap();
    let none = run(jobhost()
        .args(["run", "https://example.invalid/", "--plugins"])
        .arg(empty.path()));
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("no plugin loaded"), "{none:?}");

    let bad_size = run(jobhost().args(["run", "x", "--max-body", "lots"]));
    assert_eq!(bad_size.code, 2, "{bad_size:?}");
    assert!(bad_size.stderr.contains("not a size"), "{bad_size:?}");

    let no_threads = run(jobhost().args(["run", "x", "--threads", "0"]));
    assert_eq!(no_threads.code, 2, "{no_threads:?}");
    assert!(
        no_threads
            .stderr
            .contains("--threads: must be between 1 and 1024"),
        "{no_threads:?}"
    );
}
