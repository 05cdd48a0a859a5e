//! The links plugin as a small crawler: follow-ups, depth limit, de-duplication.

use crate::util::*;

fn site(server: &TestServer) {
    server.add_page(
        "a",
        r#"<html><head><title> Page A </title></head><body>
        <a href="/site/b">b</a> <A HREF='c'>c</A> <a href="/site/a#top">self</a>
        <a href="http://example.invalid/x">elsewhere</a> <a href="mailto:x@y">mail</a></body></html>"#,
    );
    server.add_page("b", r#"<a href="/site/a">a</a><a href="/site/d">d</a>"#);
    server.add_page("c", r#"<a href=/site/d>d</a>"#);
    server.add_page("d", r#"<a href="/site/e">e</a>"#);
    server.add_page("e", r#"<p>the end</p>"#);
}

#[test]
fn crawler_follows_same_host_links_with_depth_limit_and_dedupe() {
    let server = TestServer::start();
    site(&server);
    let plugins = PluginDir::with(&["links"]);
    let run = run(jobhost()
        .args(["run", "--dedupe", "--max-depth", "2", "--plugins"])
        .arg(plugins.path())
        .arg(server.url("/site/a")));
    assert_eq!(run.code, 0, "{run:?}");
    // a (depth 0) → b, c (1) → d (2); e would be depth 3; a again is a duplicate.
    for page in ["a", "b", "c", "d"] {
        assert_eq!(
            server.hits(&format!("/site/{page}")),
            1,
            "page {page}: {run:?}"
        );
    }
    assert_eq!(server.hits("/site/e"), 0, "{run:?}");
    let records = run.record_values();
    assert_eq!(records.len(), 4, "{run:?}");
    let first = records
        .iter()
        .find(|r| r["url"] == server.url("/site/a").as_str())
        .expect("record for page a");
    assert_eq!(first["title"], "Page A");
    // b, c and a itself (same host, fragment dropped); not the other host or mailto.
    assert_eq!(first["links"], 3);
    assert!(run.stderr.contains("done 4"), "{run:?}");
}

#[test]
fn without_dedupe_pages_are_fetched_again() {
    let server = TestServer::start();
    site(&server);
    let plugins = PluginDir::with(&["links"]);
    let run = run(jobhost()
        .args(["run", "--max-depth", "2", "--plugins"])
        .arg(plugins.path())
        .arg(server.url("/site/a")));
    assert_eq!(run.code, 0, "{run:?}");
    // depth 0: a; 1: b, c, a (a links itself); 2: a, d (from b), d (from c),
    // b, c, a (from a). So a is fetched 4 times and d twice.
    assert_eq!(server.hits("/site/a"), 4, "{run:?}");
    assert_eq!(server.hits("/site/d"), 2, "{run:?}");
    assert!(run.stderr.contains("done 10"), "{run:?}");
}
