//! `jobhost new`: the generated project builds and passes its own test.

use crate::util::*;

/// Create a `word-count` project in `lang`, build it and run its test;
/// returns the folder holding it.
fn scaffold_and_test(lang: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let created = run(jobhost()
        .args(["new", "word-count", "--lang", lang, "--dir"])
        .arg(dir.path()));
    assert_eq!(created.code, 0, "{created:?}");
    let project = dir.path().join("word-count");
    assert!(project.join("wit/plugin.wit").exists());
    // A second `new` into the same place is refused, not overwritten.
    let again = run(jobhost()
        .args(["new", "word-count", "--lang", lang, "--dir"])
        .arg(dir.path()));
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("already exists"), "{again:?}");

    let test = run(std::process::Command::new("bash")
        .arg(project.join("test.sh"))
        .env("JOBHOST", env!("CARGO_BIN_EXE_jobhost"))
        // Shared between runs so the generated project's dependencies are
        // compiled once per machine, not once per test run.
        .env("CARGO_TARGET_DIR", root().join("target/scaffold")));
    assert_eq!(test.code, 0, "{test:?}");
    assert!(
        test.stdout
            .contains("test passed: word-count produced the expected records"),
        "{test:?}"
    );
    dir
}

#[test]
fn a_new_rust_plugin_builds_and_passes_its_test() {
    scaffold_and_test("rust");
}

#[test]
fn bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = run(jobhost().args(["new", "Bad_Name", "--dir"]).arg(dir.path()));
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("is not a plugin name"), "{bad:?}");
}

#[test]
fn a_new_javascript_plugin_builds_and_passes_its_test() {
    let project = scaffold_and_test("js");
    // npm's install applied the ComponentizeJS fix the project carries.
    let installed = std::fs::read_to_string(
        project
            .path()
            .join("word-count/node_modules/@bytecodealliance/componentize-js/src/componentize.js"),
    )
    .expect("ComponentizeJS installed");
    assert!(
        installed.contains("INITIALIZER_WARMUP") && installed.contains("function jobhostBindings("),
        "the patch is not applied"
    );
}

#[test]
fn a_new_python_plugin_builds_and_passes_its_test() {
    scaffold_and_test("python");
}
