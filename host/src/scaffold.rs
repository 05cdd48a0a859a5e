//! `jobhost new NAME --lang rust|js|python`: a plugin project that builds
//! and passes its own test as generated.
//!
//! Each project holds the WIT, a sample handler, a build script, a test
//! script (build, run in jobhost on sample tasks, compare the records), and a
//! README. Templates live in `scaffold/*.txt`, with `{{name}}`-style slots.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::task::valid_plugin_name;

const WIT: &str = include_str!("../../wit/plugin.wit");

/// A language `jobhost new` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with wit-bindgen, built for wasm32-wasip2.
    Rust,
    /// JavaScript with ComponentizeJS (npm).
    Js,
    /// Python with componentize-py (PyPI).
    Python,
}

impl Lang {
    fn label(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript",
            Lang::Python => "Python",
        }
    }

    fn files(self) -> Vec<(&'static str, &'static str, bool)> {
        let common = [
            ("test.sh", include_str!("scaffold/test.sh.txt"), true),
            (
                "sample-tasks.jsonl",
                include_str!("scaffold/sample-tasks.jsonl.txt"),
                false,
            ),
            (
                "expected.jsonl",
                include_str!("scaffold/expected.jsonl.txt"),
                false,
            ),
            ("README.md", include_str!("scaffold/README.md.txt"), false),
            ("wit/plugin.wit", WIT, false),
        ];
        let specific: &[(&str, &str, bool)] = match self {
            Lang::Rust => &[
                (
                    "Cargo.toml",
                    include_str!("scaffold/rust_cargo.toml.txt"),
                    false,
                ),
                (
                    "src/lib.rs",
                    include_str!("scaffold/rust_lib.rs.txt"),
                    false,
                ),
                ("build.sh", include_str!("scaffold/rust_build.sh.txt"), true),
                (".gitignore", "/target\n*.wasm\n", false),
            ],
            Lang::Js => &[
                (
                    "package.json",
                    include_str!("scaffold/js_package.json.txt"),
                    false,
                ),
                ("app.js", include_str!("scaffold/js_app.js.txt"), false),
                ("build.sh", include_str!("scaffold/js_build.sh.txt"), true),
                // The fix music-sync-js builds with (its README says why),
                // applied by patch-package when npm installs.
                (
                    "patches/@bytecodealliance+componentize-js+0.23.0.patch",
                    include_str!(
                        "../../plugins/music-sync-js/patches/@bytecodealliance+componentize-js+0.23.0.patch"
                    ),
                    false,
                ),
                (".gitignore", "node_modules/\n*.wasm\n", false),
            ],
            Lang::Python => &[
                ("app.py", include_str!("scaffold/py_app.py.txt"), false),
                ("build.sh", include_str!("scaffold/py_build.sh.txt"), true),
                (".gitignore", ".venv/\n__pycache__/\n*.wasm\n", false),
            ],
        };
        common.into_iter().chain(specific.iter().copied()).collect()
    }
}

/// Write a new project for plugin `name` into `parent/name`. Returns its
/// folder.
pub fn create(name: &str, lang: Lang, parent: &Path) -> anyhow::Result<PathBuf> {
    if !valid_plugin_name(name) {
        anyhow::bail!("`{name}` is not a plugin name: use lower-case letters, digits and `-`");
    }
    let dir = parent.join(name);
    if dir.exists() {
        anyhow::bail!(
            "{} already exists: choose another name or --dir",
            dir.display()
        );
    }
    let jobhost = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "jobhost".to_owned());
    let crate_name = name.replace('-', "_");
    for (file, template, executable) in lang.files() {
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{language}}", lang.label())
            .replace("{{jobhost}}", &jobhost);
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
    }
    Ok(dir)
}
