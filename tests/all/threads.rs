//! The workers split over threads (`--threads`, shards.rs): every job runs
//! exactly once whichever thread takes it, and the summary adds up the
//! threads' counts.

use std::collections::BTreeSet;

use crate::util::*;

#[test]
fn jobs_spread_over_threads_each_run_exactly_once() {
    let server = TestServer::start();
    let pages = 300;
    let mut urls = Vec::new();
    for n in 0..pages {
        let name = format!("p{n}");
        server.add_page(&name, &format!("<html><body>{n}</body></html>"));
        urls.push(server.url(&format!("/site/{name}")));
    }
    let (_dir, input) = input_file(&urls);
    let plugins = PluginDir::with(&["template"]);
    // More threads than cores and an uneven split (7 workers over 3
    // threads: 3, 2, 2).
    let run = run(jobhost()
        .args(["run", "--threads", "3", "--concurrency", "7", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--plugin")
        .arg("template"));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("done {pages}, retried 0, dead 0")),
        "{run:?}"
    );
    let seen: Vec<String> = run
        .record_values()
        .iter()
        .map(|record| record["url"].as_str().expect("record url").to_owned())
        .collect();
    assert_eq!(seen.len(), pages, "one record per job: {run:?}");
    let distinct: BTreeSet<&String> = seen.iter().collect();
    let expected: BTreeSet<&String> = urls.iter().collect();
    assert_eq!(distinct, expected);
    for n in 0..pages {
        assert_eq!(
            server.hits(&format!("/site/p{n}")),
            1,
            "page p{n} fetched once"
        );
    }
}

#[test]
fn one_worker_uses_one_thread_however_many_are_asked_for() {
    let server = TestServer::start();
    server.add_page("only", "<html></html>");
    let plugins = PluginDir::with(&["template"]);
    let run = run(jobhost()
        .args(["run", "--threads", "8", "--concurrency", "1"])
        .arg(server.url("/site/only"))
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--plugin")
        .arg("template"));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("done 1, retried 0, dead 0"), "{run:?}");
    assert_eq!(run.record_values().len(), 1, "{run:?}");
}
