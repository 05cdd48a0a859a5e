//! Routing by name, by URL pattern, by content type, by default, and no match.

use serde_json::Value;

use crate::util::*;

fn plugin_of(run: &Run, url: &str) -> Option<String> {
    run.records()
        .iter()
        .find(|line| line["url"] == url)
        .map(|line| line["plugin"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn routes_by_name_pattern_and_content_type_and_reports_no_match() {
    let server = TestServer::start();
    server.add_page("p", r#"<a href="/site/q">q</a>"#);
    let plugins = PluginDir::with(&["chaos", "links", "music-sync", "template"]);
    let named = server.url("/status/200");
    let pattern = server.url("/chaos/one");
    let by_type = server.url("/site/p");
    let unclaimed = server.url("/status/201");
    let (_dir, input) = input_file(&[
        format!(r#"{{"url": "{named}", "plugin": "template"}}"#),
        pattern.clone(),
        by_type.clone(),
        unclaimed.clone(),
        format!(r#"{{"url": "{named}", "plugin": "nope"}}"#),
    ]);
    let dead = plugins.path().join("dead.jsonl");
    let run = run(jobhost()
        .args(["run", "--max-depth", "0", "--input"])
        .arg(&input)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dead-letters")
        .arg(&dead));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        plugin_of(&run, &named).as_deref(),
        Some("template"),
        "{run:?}"
    );
    assert_eq!(
        plugin_of(&run, &pattern).as_deref(),
        Some("chaos"),
        "{run:?}"
    );
    assert_eq!(
        plugin_of(&run, &by_type).as_deref(),
        Some("links"),
        "{run:?}"
    );
    let letters: Vec<Value> = read_dead_letters(&dead);
    assert_eq!(letters.len(), 2, "{letters:?}");
    let no_claim = letters
        .iter()
        .find(|l| l["url"] == unclaimed.as_str())
        .expect("unclaimed is dead");
    let message = no_claim["error"].as_str().unwrap();
    assert!(
        message.contains("no plugin claims") && message.contains("--plugin NAME"),
        "{message}"
    );
    assert!(message.contains("text/plain"), "{message}");
    let unknown = letters
        .iter()
        .find(|l| l["plugin"] == "nope")
        .expect("unknown name is dead");
    let message = unknown["error"].as_str().unwrap();
    assert!(message.contains("no plugin named `nope`"), "{message}");
    assert!(
        message.contains("chaos, links, music-sync, template"),
        "{message}"
    );
    // Routing failed before fetching: the unknown-name task cost no request.
    assert_eq!(server.hits("/status/200"), 1);
}

#[test]
fn default_plugin_takes_what_nothing_claims_but_not_what_is_claimed() {
    let server = TestServer::start();
    let plugins = PluginDir::with(&["chaos", "template"]);
    let plain = server.url("/status/200");
    let claimed = server.url("/chaos/two");
    let run = run(jobhost()
        .args(["run", "--plugin", "template", &plain, &claimed, "--plugins"])
        .arg(plugins.path()));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(plugin_of(&run, &plain).as_deref(), Some("template"));
    assert_eq!(plugin_of(&run, &claimed).as_deref(), Some("chaos"));
    let template = run
        .records()
        .into_iter()
        .find(|l| l["plugin"] == "template")
        .unwrap();
    assert_eq!(template["record"]["status"], 200);
}

#[test]
fn an_unknown_default_plugin_is_a_usage_error() {
    let plugins = PluginDir::with(&["template"]);
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "nope",
            "https://example.invalid/x",
            "--plugins",
        ])
        .arg(plugins.path()));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no plugin named `nope`"), "{run:?}");
}
