//! The form a task takes inside a networked queue: compact JSON that keeps
//! everything a delivery needs (attempts so far, depth, the last error),
//! and the form of a dead letter, shared by the Redis and RabbitMQ backends.
//!
//! Distinct from the producer's JSON task format (`task.rs`), which is
//! strict about unknown keys and has no attempt counts.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::task::{Payload, Task};

/// A task on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WireTask {
    /// Task id.
    pub id: String,
    /// URL (or `inline:<id>`).
    pub url: String,
    /// Plugin asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Metadata pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<(String, String)>,
    /// Inline payload, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Inline payload's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Enqueue time, ms since the epoch.
    pub enqueued_at: u64,
    /// Failed attempts so far.
    #[serde(default)]
    pub failures: u32,
    /// Crawl depth.
    #[serde(default)]
    pub depth: u32,
    /// The last failure's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The schedule round the task belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<String>,
    /// Whether it holds its URL in the queue's unique set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
}

impl WireTask {
    /// The wire form of `task`, with `failures` failed attempts so far.
    pub fn from_task(task: &Task, failures: u32, last_error: Option<String>) -> Self {
        WireTask {
            id: task.id.clone(),
            url: task.url.clone(),
            plugin: task.plugin.clone(),
            metadata: task.metadata.clone(),
            payload: task
                .payload
                .as_ref()
                .map(|p| base64::engine::general_purpose::STANDARD.encode(&p.body)),
            content_type: task.payload.as_ref().map(|p| p.content_type.clone()),
            enqueued_at: task.enqueued_at,
            failures,
            depth: task.depth,
            last_error,
            round: task.round.as_ref().map(|r| r.id.clone()),
            unique: task.round.as_ref().is_some_and(|r| r.unique),
        }
    }

    /// Back to a task whose next attempt is `failures + 1`.
    pub fn into_task(self) -> Result<Task, String> {
        let payload = match self.payload {
            Some(b64) => Some(Payload {
                body: base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("payload is not valid base64: {e}"))?,
                content_type: self
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
            }),
            None => None,
        };
        Ok(Task {
            id: self.id,
            url: self.url,
            plugin: self.plugin,
            metadata: self.metadata,
            payload,
            enqueued_at: self.enqueued_at,
            attempt: self.failures + 1,
            depth: self.depth,
            round: self.round.map(|id| crate::task::Round {
                id,
                unique: self.unique,
            }),
        })
    }

    /// Serialise; a `WireTask` always serialises.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// A dead letter as stored: `{"error", "died_at", "task": WIRE}` or
/// `{"error", "died_at", "raw": LINE}`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct StoredDead {
    pub error: String,
    pub died_at: u64,
    /// Set for poison jobs buried by the reclaimer.
    #[serde(default)]
    pub deliveries: Option<u64>,
    #[serde(default)]
    pub task: Option<WireTask>,
    #[serde(default)]
    pub raw: Option<String>,
}

/// What `dead retry` makes of a stored dead letter.
pub(crate) enum Revived {
    /// The task, its attempts reset and outside any schedule round (the
    /// round counted it dead; back on the queue it is a task of its own,
    /// outside the round's counts and its unique set).
    Task(WireTask),
    /// A line that never was a task, as it was received.
    Raw(String),
    /// A letter that does not parse as one.
    Unreadable,
}

impl Revived {
    pub(crate) fn of(stored: &str) -> Self {
        match serde_json::from_str::<StoredDead>(stored) {
            Ok(StoredDead {
                task: Some(mut task),
                ..
            }) => {
                task.failures = 0;
                task.last_error = None;
                task.round = None;
                task.unique = false;
                Revived::Task(task)
            }
            Ok(StoredDead { raw: Some(raw), .. }) => Revived::Raw(raw),
            _ => Revived::Unreadable,
        }
    }
}

/// The stored JSON of a dead letter for `task`.
pub fn dead_json(task: Option<&WireTask>, raw: Option<&str>, error: &str, died_at: u64) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("error".into(), error.into());
    obj.insert("died_at".into(), died_at.into());
    if let Some(task) = task {
        obj.insert(
            "task".into(),
            serde_json::to_value(task).unwrap_or_default(),
        );
    }
    if let Some(raw) = raw {
        obj.insert("raw".into(), raw.into());
    }
    serde_json::Value::Object(obj).to_string()
}

/// What `dead list` shows for a stored letter.
pub(crate) fn present_dead(id: &str, stored: &str) -> serde_json::Value {
    match serde_json::from_str::<StoredDead>(stored) {
        Ok(letter) => {
            let mut value = match (&letter.task, &letter.raw) {
                (Some(task), _) => match task.clone().into_task() {
                    Ok(t) => t.to_json(),
                    Err(_) => serde_json::json!({ "id": id }),
                },
                (None, Some(raw)) => serde_json::json!({ "id": id, "raw": raw }),
                (None, None) => serde_json::json!({ "id": id }),
            };
            if let serde_json::Value::Object(obj) = &mut value {
                obj.insert("error".into(), letter.error.into());
                let attempts = letter.task.as_ref().map_or(1, |t| t.failures.max(1));
                obj.insert("attempts".into(), attempts.into());
                obj.insert("died_at".into(), letter.died_at.into());
                if let Some(deliveries) = letter.deliveries {
                    obj.insert("deliveries".into(), deliveries.into());
                }
            }
            value
        }
        Err(e) => {
            serde_json::json!({ "id": id, "error": format!("unreadable dead letter: {e}"), "stored": stored })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_everything_and_counts_the_next_attempt() {
        let mut task = Task::from_json(
            r#"{"id":"a","payload_base64":"AAEC","plugin":"p","metadata":{"k":"v"}}"#,
        )
        .unwrap();
        task.depth = 2;
        task.round = Some(crate::task::Round {
            id: "nightly@1".into(),
            unique: true,
        });
        let wire = WireTask::from_task(&task, 3, Some("boom".into()));
        let parsed: WireTask = serde_json::from_str(&wire.to_json()).unwrap();
        assert_eq!(parsed, wire);
        let back = parsed.into_task().unwrap();
        assert_eq!(back.attempt, 4);
        assert_eq!(back.payload, task.payload);
        assert_eq!(back.depth, 2);
        assert_eq!(back.round, task.round);
    }
}
