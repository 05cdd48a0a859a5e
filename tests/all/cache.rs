//! The compiled-plugin cache: a warm start loads from disk, and a damaged
//! entry is detected, recompiled and rewritten.

use crate::util::*;

fn start(plugins: &PluginDir, cache: &std::path::Path) -> Run {
    let run = run(jobhost()
        .args([
            "run",
            r#"{"payload":"x","plugin":"music-sync"}"#,
            "--plugins",
        ])
        .arg(plugins.path())
        .arg("--cache-dir")
        .arg(cache));
    // The payload is not a track: the job is dead, but the plugin loaded.
    assert!(run.stderr.contains("loaded plugin music-sync"), "{run:?}");
    run
}

#[test]
fn a_warm_cache_skips_compilation_and_a_damaged_entry_is_recompiled() {
    let plugins = PluginDir::with(&["music-sync"]);
    let cache = tempfile::tempdir().unwrap();
    let cold = start(&plugins, cache.path());
    assert!(cold.stderr.contains("(compiled in"), "{cold:?}");
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert!(entry.extension().is_some_and(|e| e == "cwasm"));

    let warm = start(&plugins, cache.path());
    assert!(
        warm.stderr.contains("(from the compiled cache in"),
        "{warm:?}"
    );

    // Cut the entry short: it must be noticed, not loaded.
    let bytes = std::fs::read(entry).unwrap();
    std::fs::write(entry, &bytes[..bytes.len() / 2]).unwrap();
    let damaged = start(&plugins, cache.path());
    assert!(
        damaged
            .stderr
            .contains("is truncated or corrupt; recompiling"),
        "{damaged:?}"
    );
    assert!(damaged.stderr.contains("recompiled in"), "{damaged:?}");
    assert_eq!(
        std::fs::read(entry).unwrap().len(),
        bytes.len(),
        "rewritten whole"
    );

    let healed = start(&plugins, cache.path());
    assert!(
        healed.stderr.contains("(from the compiled cache in"),
        "{healed:?}"
    );
}

#[test]
fn no_cache_compiles_every_time_and_writes_nothing() {
    let plugins = PluginDir::with(&["template"]);
    let cache = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let run = run(jobhost()
            .args([
                "run",
                "--plugin",
                "template",
                r#"{"payload":"x"}"#,
                "--no-cache",
                "--plugins",
            ])
            .arg(plugins.path())
            .arg("--cache-dir")
            .arg(cache.path()));
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stderr.contains("(compiled in"), "{run:?}");
    }
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}
