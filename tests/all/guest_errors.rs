//! Plugin authors' errors: an uncaught JavaScript exception or Python
//! exception fails the job with the exception's type and message in the
//! dead letter (what the guest runtime printed before it trapped), cut to a
//! bounded length.
//!
//! The test plugins (tests/plugins/throw-js, throw-py) are built by
//! plugins/build.sh as `jobhost new` builds a plugin in that language.

use serde_json::Value;

use crate::util::*;

/// Longest plugin output a trap message carries (`TRAP_OUTPUT_BYTES` in
/// host/src/runtime/mod.rs), plus room for the rest of the message.
const MOST_ERROR_BYTES: usize = 1024 + 256;

/// Run `plugin` on one task that throws `boom` and one that throws `boom`
/// followed by 100,000 characters; the dead letters' errors by task id.
fn dead_letter_errors(plugin: &str) -> (String, String) {
    let plugins = PluginDir::with(&[plugin]);
    let dead = plugins.path().join("dead.jsonl");
    let run = run(jobhost()
        .args(["run", "--concurrency", "2", "--plugins"])
        .arg(plugins.path())
        .arg(format!(
            r#"{{"id":"boom","payload":"x","plugin":"{plugin}"}}"#
        ))
        .arg(format!(
            r#"{{"id":"long","payload":"x","plugin":"{plugin}","metadata":{{"pad":"100000"}}}}"#
        ))
        .arg("--dead-letters")
        .arg(&dead));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("done 0, retried 0, dead 2"), "{run:?}");
    let letters = read_dead_letters(&dead);
    let error = |id: &str| {
        let letter: &Value = letters
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("no dead letter for {id}: {run:?}"));
        assert_eq!(letter["attempts"], 1, "a trap is not retried: {letter}");
        letter["error"].as_str().unwrap().to_owned()
    };
    (error("boom"), error("long"))
}

#[test]
fn a_javascript_exception_reaches_the_dead_letter() {
    let (boom, long) = dead_letter_errors("throw-js");
    assert!(boom.starts_with("plugin throw-js trapped: "), "{boom}");
    assert!(boom.contains("Error: boom"), "{boom}");
    assert!(long.contains("boomxxxx") || long.contains("xxxx"), "{long}");
    assert!(long.len() <= MOST_ERROR_BYTES, "{} bytes", long.len());
}

#[test]
fn a_python_exception_reaches_the_dead_letter() {
    let (boom, long) = dead_letter_errors("throw-py");
    assert!(boom.starts_with("plugin throw-py trapped: "), "{boom}");
    assert!(boom.contains("ValueError: boom"), "{boom}");
    assert!(long.contains("xxxx"), "{long}");
    assert!(long.len() <= MOST_ERROR_BYTES, "{} bytes", long.len());
}

/// ComponentizeJS's `--disable stdio` turns the guest's writes into no-ops,
/// and with them the report of an uncaught exception: the scaffold (and so
/// throw-js, built the same way) keeps stdio.
#[test]
fn a_new_javascript_plugin_can_print_its_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let created = run(jobhost()
        .args(["new", "thrower", "--lang", "js", "--dir"])
        .arg(dir.path()));
    assert_eq!(created.code, 0, "{created:?}");
    let build = std::fs::read_to_string(dir.path().join("thrower/build.sh")).unwrap();
    // The features the build command turns off: `--disable A B C -o FILE`.
    let disabled: Vec<&str> = build
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("--disable "))
        .expect("build.sh passes --disable")
        .split_whitespace()
        .take_while(|word| *word != "-o")
        .collect();
    assert!(!disabled.contains(&"stdio"), "{build}");
    let ours = std::fs::read_to_string(root().join("plugins/build.sh")).unwrap();
    let flags = format!("--disable {}", disabled.join(" "));
    assert!(
        ours.contains(&flags),
        "plugins/build.sh builds throw-js as the scaffold does ({flags})"
    );
}
