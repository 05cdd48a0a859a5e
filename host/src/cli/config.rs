//! The configuration file (`jobhost.toml`): every setting of `jobhost run`
//! that has a `JOBHOST_*` variable, grouped as `run --help` groups the
//! flags (`[fetch] max_body = "10MiB"` is `--max-body`).
//!
//! Precedence is flags, then the environment, then the file, then the
//! defaults. The file is applied before the command line is parsed, by
//! setting each of its settings' variables where the environment has not
//! set it already; clap then reads flags over variables as it always does.
//! A key that is not a setting, or a value of the wrong shape, is named by
//! its key and line here; a value the flag's own parser refuses is named so
//! too, by [`Applied::blame`] on clap's error.

use std::path::{Path, PathBuf};

/// The file looked for in the working directory when `--config` is absent.
pub const DEFAULT_FILE: &str = "jobhost.toml";

/// A setting the file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromFile {
    /// `section.key` as written.
    pub key: String,
    /// The flag it stands for, without its dashes.
    pub flag: String,
    /// The variable it set.
    pub env: String,
    /// Its line in the file (from 1).
    pub line: usize,
    /// False when the environment had the variable already (it wins).
    pub applied: bool,
}

/// What the file did, for `jobhost config`.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The file, if one was read.
    pub file: Option<PathBuf>,
    /// Its settings, in file order.
    pub settings: Vec<FromFile>,
}

/// A file that cannot be used: names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {problem}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct ConfigError {
    file: String,
    line: Option<usize>,
    problem: String,
}

/// The config file to read: `--config FILE` (or `--config=FILE`) among
/// `args`, else `JOBHOST_CONFIG`, else `jobhost.toml` in the working
/// directory if there is one. An explicit file must exist.
pub fn locate(args: &[std::ffi::OsString]) -> Result<Option<PathBuf>, ConfigError> {
    let mut explicit = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--config" {
            explicit = iter.next().map(PathBuf::from);
        } else if let Some(path) = text.strip_prefix("--config=") {
            explicit = Some(PathBuf::from(path));
        }
    }
    let explicit = explicit.or_else(|| {
        std::env::var_os("JOBHOST_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match explicit {
        Some(path) if path.is_file() => Ok(Some(path)),
        Some(path) => Err(ConfigError {
            file: path.display().to_string(),
            line: None,
            problem: "no such file (from --config or JOBHOST_CONFIG)".into(),
        }),
        None => Ok(Path::new(DEFAULT_FILE)
            .is_file()
            .then(|| PathBuf::from(DEFAULT_FILE))),
    }
}

/// The section of the file for a flag under `heading` in `--help`.
fn section(heading: Option<&str>) -> &'static str {
    match heading.unwrap_or("") {
        "Jobs" => "jobs",
        "Plugins" => "plugins",
        "Queue" => "queue",
        "Redis queue" => "redis",
        "Fetching" => "fetch",
        "Sandbox" => "sandbox",
        "Politeness" => "politeness",
        heading if heading.starts_with("Database sink") => "sink",
        _ => "",
    }
}

/// The settings a file may hold: `(section, key, arg)` for every argument
/// of `run` (and the global ones) that has a variable.
fn settings(cli: &clap::Command) -> Vec<(&'static str, String, clap::Arg)> {
    let mut out = Vec::new();
    let run = cli.find_subcommand("run");
    let args = cli
        .get_arguments()
        .chain(run.into_iter().flat_map(|run| run.get_arguments()));
    for arg in args {
        let (Some(_), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let key = long.replace('-', "_");
        if out
            .iter()
            .any(|(_, k, _): &(&str, String, clap::Arg)| *k == key)
        {
            continue;
        }
        out.push((section(arg.get_help_heading()), key, arg.clone()));
    }
    out
}

/// Read `file` and set the variables of its settings that the environment
/// has not set. `cli`: the whole command, built.
pub fn apply(file: &Path, cli: &clap::Command) -> Result<Applied, ConfigError> {
    let name = file.display().to_string();
    let fail = |line: Option<usize>, problem: String| ConfigError {
        file: name.clone(),
        line,
        problem,
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| fail(None, format!("cannot read: {e}")))?;
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
    };
    let doc: toml_edit::ImDocument<&str> =
        toml_edit::ImDocument::parse(text.as_str()).map_err(|e| {
            fail(
                line_of(e.span()),
                format!("not valid TOML: {}", e.message()),
            )
        })?;
    let known = settings(cli);
    let mut applied = Applied {
        file: Some(file.to_owned()),
        settings: Vec::new(),
    };
    // (section, key, value, line), sections flattened.
    let mut entries = Vec::new();
    for (key, item) in doc.as_table().iter() {
        let line = line_of(doc.as_table().key(key).and_then(|k| k.span()));
        match item {
            toml_edit::Item::Table(table) => {
                for (inner, value) in table.iter() {
                    let line = line_of(table.key(inner).and_then(|k| k.span()));
                    entries.push((key.to_owned(), inner.to_owned(), value.clone(), line));
                }
            }
            _ => entries.push((String::new(), key.to_owned(), item.clone(), line)),
        }
    }
    for (sect, key, item, line) in entries {
        let shown = if sect.is_empty() {
            key.clone()
        } else {
            format!("{sect}.{key}")
        };
        let Some((_, _, arg)) = known
            .iter()
            .find(|(s, k, _)| *s == sect.as_str() && *k == key)
        else {
            let hint = match known.iter().find(|(_, k, _)| *k == key) {
                Some(("", _, _)) => format!(" (it goes at the top, not in [{sect}])"),
                Some((s, _, _)) => format!(" (it goes in [{s}])"),
                None => String::new(),
            };
            return Err(fail(
                line,
                format!("`{shown}` is not a setting{hint}; `jobhost config` lists them"),
            ));
        };
        let value =
            to_text(arg, &item).map_err(|problem| fail(line, format!("`{shown}`: {problem}")))?;
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let already = std::env::var_os(&env).is_some();
        if !already {
            // Before any thread starts: main calls this first thing.
            std::env::set_var(&env, &value);
        }
        applied.settings.push(FromFile {
            key: shown,
            flag: arg.get_long().unwrap_or_default().to_owned(),
            env,
            line: line.unwrap_or(0),
            applied: !already,
        });
    }
    Ok(applied)
}

/// Is `arg` a flag without a value (`--conditional`)?
fn is_switch(arg: &clap::Arg) -> bool {
    matches!(
        arg.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
    )
}

/// The variable's text for a TOML value.
fn to_text(arg: &clap::Arg, item: &toml_edit::Item) -> Result<String, String> {
    let Some(value) = item.as_value() else {
        return Err("expected a value, found a table".into());
    };
    let scalar = |value: &toml_edit::Value| -> Result<String, String> {
        match value {
            toml_edit::Value::String(s) => Ok(s.value().clone()),
            toml_edit::Value::Integer(i) => Ok(i.value().to_string()),
            toml_edit::Value::Float(f) => Ok(f.value().to_string()),
            toml_edit::Value::Boolean(b) => Ok(b.value().to_string()),
            _ => Err("expected a string, a number or true/false".into()),
        }
    };
    if is_switch(arg) {
        return match value {
            toml_edit::Value::Boolean(b) => Ok(b.value().to_string()),
            _ => Err("expected true or false".into()),
        };
    }
    match value {
        toml_edit::Value::Array(items) => {
            let Some(delimiter) = arg.get_value_delimiter() else {
                return Err("expected one value, found a list".into());
            };
            let parts = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
            if let Some(bad) = parts.iter().find(|p| p.contains(delimiter)) {
                return Err(format!(
                    "the list item `{bad}` holds the separator `{delimiter}`"
                ));
            }
            Ok(parts.join(&delimiter.to_string()))
        }
        other => scalar(other),
    }
}

impl Applied {
    /// When clap refused a value that came from the file, the same error
    /// naming the file's line and key instead of the variable.
    pub fn blame(&self, error: &clap::Error) -> Option<String> {
        use clap::error::{ContextKind, ContextValue};
        let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
            return None;
        };
        let flag = arg.split_whitespace().next()?.trim_start_matches('-');
        let setting = self
            .settings
            .iter()
            .find(|setting| setting.applied && setting.flag == flag)?;
        let file = self.file.as_deref()?.display();
        let text = error.to_string();
        let reason = text
            .lines()
            .next()
            .unwrap_or(&text)
            .trim_start_matches("error: ");
        Some(format!(
            "{file} line {}: `{}`: {reason}",
            setting.line, setting.key
        ))
    }
}

/// `jobhost config`: each setting of `run` that has a value, with where it
/// came from, as `section.key = value  # source`. Secrets (a URL's
/// password) are redacted.
pub fn describe(cli: &clap::Command, matches: &clap::ArgMatches, applied: &Applied) -> String {
    let mut lines = Vec::new();
    if let Some(file) = &applied.file {
        lines.push(format!("# config file: {}", file.display()));
    } else {
        lines.push(format!(
            "# no config file (--config FILE, JOBHOST_CONFIG, or ./{DEFAULT_FILE})"
        ));
    }
    let mut known = settings(cli);
    known.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    for (sect, key, arg) in known {
        let id = arg.get_id().as_str();
        let Some(source) = matches.value_source(id) else {
            continue;
        };
        let Some(values) = matches.get_raw(id) else {
            continue;
        };
        let value = values
            .map(|v| crate::redis::redact(&v.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ");
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let from = match source {
            clap::parser::ValueSource::CommandLine => "flag".to_owned(),
            clap::parser::ValueSource::EnvVariable => {
                match applied.settings.iter().find(|s| s.env == env && s.applied) {
                    Some(setting) => format!(
                        "file, line {} ({})",
                        setting.line,
                        applied
                            .file
                            .as_deref()
                            .map(|f| f.display().to_string())
                            .unwrap_or_default()
                    ),
                    None => format!("environment, {env}"),
                }
            }
            _ => "default".to_owned(),
        };
        let shown = if sect.is_empty() {
            key
        } else {
            format!("{sect}.{key}")
        };
        lines.push(format!("{shown} = {value:?}  # {from}"));
    }
    lines.join("\n")
}
