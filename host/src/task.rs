//! The task model and the input formats that produce tasks.
//!
//! A task line is either a bare URL (what the seed's producers push onto a
//! Redis list) or a JSON object. Parsing is strict: unknown keys, relative
//! URLs and unsupported schemes are errors that name the problem, so a typo
//! in a producer is caught at the door instead of failing later in a plugin.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;

/// One unit of work.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Unique id, stable across retries.
    pub id: String,
    /// What to fetch (`http`, `https` or `file`), or `inline:<id>`.
    pub url: String,
    /// The plugin the producer asked for, if any.
    pub plugin: Option<String>,
    /// Producer metadata, in order.
    pub metadata: Vec<(String, String)>,
    /// Content carried in the task itself; no fetch happens when present.
    pub payload: Option<Payload>,
    /// Milliseconds since the Unix epoch when the task was first enqueued.
    pub enqueued_at: u64,
    /// Deliveries started so far; 0 until a worker first takes the task.
    pub attempt: u32,
    /// 0 for a task from the input, parent's depth + 1 for a follow-up.
    pub depth: u32,
    /// The schedule round this task belongs to, if a schedule produced it
    /// (or its parent): the round counts it done or dead when it ends.
    pub round: Option<Round>,
}

/// A task's place in a schedule round (Redis queue only; see
/// `schedule/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The round's id, `SCHEDULE@FIRE_MS`.
    pub id: String,
    /// Whether the task holds its URL's entry in the queue's unique set
    /// (released when the task ends done or dead). Follow-ups never do.
    pub unique: bool,
}

/// Content carried inline in a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The body handed to the plugin.
    pub body: Vec<u8>,
    /// Its media type.
    pub content_type: String,
}

/// Why a task line was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TaskError {
    /// Not JSON, or JSON that does not fit the task format.
    #[error("invalid JSON task: {0}")]
    Json(String),
    /// The URL does not parse, is relative, or has an unsupported scheme.
    #[error("invalid URL `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither `url` nor a payload.
    #[error("a JSON task needs a `url`, an inline `payload`, or both")]
    Empty,
    /// Both `payload` and `payload_base64`.
    #[error("give either `payload` or `payload_base64`, not both")]
    TwoPayloads,
    /// `payload_base64` that does not decode.
    #[error("`payload_base64` is not valid base64: {0}")]
    Base64(String),
    /// A bad plugin name.
    #[error("invalid plugin name `{0}`: use lower-case letters, digits and `-`")]
    PluginName(String),
}

/// The JSON form of a task, as producers write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskLine {
    id: Option<String>,
    url: Option<String>,
    plugin: Option<String>,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
    payload: Option<serde_json::Value>,
    payload_base64: Option<String>,
    content_type: Option<String>,
    // Written by `--dead-letters` beside the task; accepted and ignored so
    // that a dead-letter file can be fed back with `--input`.
    #[serde(default, rename = "error")]
    _error: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "attempts")]
    _attempts: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "died_at")]
    _died_at: Option<serde::de::IgnoredAny>,
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A fresh task id: 128 random bits in hex, unique across hosts without
/// coordination.
pub fn new_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

impl Task {
    /// A task for `url` with a fresh id and no metadata.
    pub fn new(url: impl Into<String>) -> Self {
        Task {
            id: new_id(),
            url: url.into(),
            plugin: None,
            metadata: Vec::new(),
            payload: None,
            enqueued_at: now_millis(),
            attempt: 0,
            depth: 0,
            round: None,
        }
    }

    /// Parse one input line: a bare URL or a JSON task. Returns `Ok(None)`
    /// for blank lines and `#` comments.
    pub fn parse_line(line: &str) -> Result<Option<Task>, TaskError> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        if line.starts_with('{') {
            return Task::from_json(line).map(Some);
        }
        check_url(line)?;
        Ok(Some(Task::new(line)))
    }

    /// Parse a JSON task.
    pub fn from_json(text: &str) -> Result<Task, TaskError> {
        let line: TaskLine =
            serde_json::from_str(text).map_err(|e| TaskError::Json(e.to_string()))?;
        let payload = match (line.payload, line.payload_base64) {
            (Some(_), Some(_)) => return Err(TaskError::TwoPayloads),
            (Some(serde_json::Value::String(s)), None) => Some(Payload {
                body: s.into_bytes(),
                content_type: line.content_type.unwrap_or_else(|| "text/plain".into()),
            }),
            (Some(value), None) => Some(Payload {
                body: serde_json::to_vec(&value).map_err(|e| TaskError::Json(e.to_string()))?,
                content_type: line
                    .content_type
                    .unwrap_or_else(|| "application/json".into()),
            }),
            (None, Some(b64)) => Some(Payload {
                body: base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| TaskError::Base64(e.to_string()))?,
                content_type: line
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
            }),
            (None, None) => {
                if line.content_type.is_some() {
                    return Err(TaskError::Json(
                        "`content_type` only applies to an inline `payload`".into(),
                    ));
                }
                None
            }
        };
        let id = match line.id {
            Some(id) if id.trim().is_empty() => {
                return Err(TaskError::Json("`id` must not be empty".into()))
            }
            Some(id) => id,
            None => new_id(),
        };
        let url = match line.url {
            Some(url) => {
                check_url(&url)?;
                url
            }
            None if payload.is_some() => format!("inline:{id}"),
            None => return Err(TaskError::Empty),
        };
        if let Some(name) = &line.plugin {
            if !valid_plugin_name(name) {
                return Err(TaskError::PluginName(name.clone()));
            }
        }
        let mut metadata = Vec::with_capacity(line.metadata.len());
        for (key, value) in line.metadata {
            match value {
                serde_json::Value::String(s) => metadata.push((key, s)),
                other => {
                    return Err(TaskError::Json(format!(
                        "metadata value for `{key}` must be a string, got {other}"
                    )))
                }
            }
        }
        Ok(Task {
            id,
            url,
            plugin: line.plugin,
            metadata,
            payload,
            enqueued_at: now_millis(),
            attempt: 0,
            depth: 0,
            round: None,
        })
    }

    /// The JSON form of this task, which [`Task::from_json`] reads back (used
    /// for dead letters, so that they can be fed to `jobhost run` again).
    pub fn to_json(&self) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        obj.insert("id".into(), self.id.clone().into());
        if !self.url.starts_with("inline:") {
            obj.insert("url".into(), self.url.clone().into());
        }
        if let Some(plugin) = &self.plugin {
            obj.insert("plugin".into(), plugin.clone().into());
        }
        if !self.metadata.is_empty() {
            let meta = self
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            obj.insert("metadata".into(), serde_json::Value::Object(meta));
        }
        if let Some(payload) = &self.payload {
            obj.insert(
                "payload_base64".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(&payload.body)
                    .into(),
            );
            obj.insert("content_type".into(), payload.content_type.clone().into());
        }
        serde_json::Value::Object(obj)
    }

    /// The value of metadata key `key`, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Plugin names are lower-case letters, digits and `-`, 1 to 64 characters,
/// so that they are safe in key-value namespaces, Redis keys and file names.
pub fn valid_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Accept absolute `http`, `https` and `file` URLs only.
pub fn check_url(url: &str) -> Result<(), TaskError> {
    let bad = |reason: String| TaskError::Url {
        url: url.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| {
        bad(format!(
            "{e}; a task line is an absolute URL (https://...) or a JSON object {{\"url\": ...}}"
        ))
    })?;
    match parsed.scheme() {
        "http" | "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(bad("no host".into()));
            }
            Ok(())
        }
        "file" => Ok(()),
        other => Err(bad(format!(
            "scheme `{other}` is not supported; use http, https or file"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_urls_blank_lines_and_comments() {
        let t = Task::parse_line("  https://api.example.com/tracks/1 \n")
            .unwrap()
            .unwrap();
        assert_eq!(t.url, "https://api.example.com/tracks/1");
        assert_eq!(t.id.len(), 32);
        assert_eq!(Task::parse_line("   ").unwrap(), None);
        assert_eq!(Task::parse_line("# a comment").unwrap(), None);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let err = Task::parse_line("not a url").unwrap_err().to_string();
        assert!(err.contains("invalid URL `not a url`"), "{err}");
        let err = Task::parse_line("ftp://x/y").unwrap_err().to_string();
        assert!(err.contains("scheme `ftp` is not supported"), "{err}");
        let err = Task::parse_line(r#"{"url": "https://a/b", "plugn": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `plugn`"), "{err}");
        let err = Task::parse_line(r#"{"url": "https://a/b""#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid JSON task"), "{err}");
        assert_eq!(Task::parse_line("{}").unwrap_err(), TaskError::Empty);
        let err = Task::parse_line(r#"{"url":"https://a/b","metadata":{"n":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metadata value for `n` must be a string"),
            "{err}"
        );
        let err = Task::parse_line(r#"{"url":"https://a/b","plugin":"Bad Name"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid plugin name `Bad Name`"), "{err}");
    }

    #[test]
    fn inline_payloads() {
        let t = Task::from_json(r#"{"id":"t1","payload":{"a":1},"metadata":{"k":"v"}}"#).unwrap();
        assert_eq!(t.url, "inline:t1");
        let p = t.payload.as_ref().unwrap();
        assert_eq!(p.body, br#"{"a":1}"#);
        assert_eq!(p.content_type, "application/json");
        assert_eq!(t.meta("k"), Some("v"));
        let t = Task::from_json(r#"{"payload":"hi","content_type":"text/html"}"#).unwrap();
        assert_eq!(t.payload.unwrap().content_type, "text/html");
        let t = Task::from_json(r#"{"payload_base64":"AAEC"}"#).unwrap();
        assert_eq!(t.payload.unwrap().body, vec![0, 1, 2]);
    }

    #[test]
    fn dead_letter_json_round_trips() {
        let t = Task::from_json(
            r#"{"id":"x","url":"https://h/p","plugin":"links","metadata":{"a":"b"}}"#,
        )
        .unwrap();
        let back = Task::from_json(&t.to_json().to_string()).unwrap();
        assert_eq!(
            (back.id, back.url, back.plugin, back.metadata),
            (t.id, t.url, t.plugin, t.metadata)
        );
        let t = Task::from_json(r#"{"id":"y","payload":"body"}"#).unwrap();
        let back = Task::from_json(&t.to_json().to_string()).unwrap();
        assert_eq!(back.payload, t.payload);
        assert_eq!(back.url, "inline:y");
    }
}
