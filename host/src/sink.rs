//! The sink: where plugin records go. JSON Lines, to stdout or a file; the
//! queue's Redis stream; or a database (`db/`, which owns that path).
//!
//! Each line carries the task id, URL, plugin and the record. A JSON record
//! is embedded as JSON (validated, not re-parsed into a tree); text as a
//! string; binary as base64. Records of a job are validated together before
//! any is written, so a job never leaves half its output behind.
//!
//! The sink is one stage of the commit pipeline (`commit.rs`): records are
//! written before their job is acknowledged, and a queue that outlives the
//! process has them flushed before each batch of acknowledgements (the
//! pipeline hands it the sink as its `queue::BeforeAck`). This module knows
//! neither the queue nor the pipeline.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::db::DbSink;
use crate::record::Record;
use crate::task::Task;

/// A record that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A record labelled JSON that does not parse.
    #[error("record {index} is labelled {content_type} but is not valid JSON: {message}")]
    BadJson {
        /// Position in the job's records.
        index: usize,
        /// Its content type.
        content_type: String,
        /// The parse error.
        message: String,
    },
    /// Writing failed (disk full, closed pipe).
    #[error("writing the output failed: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Serialize)]
struct Line<'a> {
    task_id: &'a str,
    url: &'a str,
    plugin: &'a str,
    content_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<RecordValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_base64: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum RecordValue<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// Where records go.
enum Target {
    /// JSON Lines to a writer.
    Lines(Mutex<std::io::BufWriter<Box<dyn Write + Send>>>),
    /// A Redis stream, written by the queue together with the ack.
    QueueStream(String),
    /// A database, written by the commit pipeline before the ack.
    Database(Arc<DbSink>),
}

/// The sink shared by all workers.
pub struct Sink {
    target: Target,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").finish_non_exhaustive()
    }
}

impl Sink {
    /// Write to standard output.
    pub fn stdout() -> Self {
        Self::to_writer(Box::new(std::io::stdout()))
    }

    /// Write to `path`: appended to (a long-running host keeps its earlier
    /// records across restarts) or truncated (a batch's output).
    pub fn file(path: &Path, append: bool) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)?;
        Ok(Self::to_writer(Box::new(file)))
    }

    /// Write to any writer.
    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        Sink {
            target: Target::Lines(Mutex::new(std::io::BufWriter::with_capacity(
                64 * 1024,
                out,
            ))),
        }
    }

    /// Records go to the Redis stream `name`, added by the queue in the same
    /// step as the acknowledgement.
    pub fn queue_stream(name: String) -> Self {
        Sink {
            target: Target::QueueStream(name),
        }
    }

    /// Records go into a database (`db/`): the commit pipeline hands them
    /// to it and acknowledges a job once its rows committed.
    pub fn for_database(db: DbSink) -> Self {
        Sink {
            target: Target::Database(Arc::new(db)),
        }
    }

    /// The Redis stream the queue should write records to, if any.
    pub fn stream_name(&self) -> Option<&str> {
        match &self.target {
            Target::QueueStream(name) => Some(name),
            Target::Lines(_) | Target::Database(_) => None,
        }
    }

    /// The database records go into, if they do.
    pub fn database(&self) -> Option<&Arc<DbSink>> {
        match &self.target {
            Target::Database(db) => Some(db),
            Target::Lines(_) | Target::QueueStream(_) => None,
        }
    }

    /// Check that every record labelled JSON parses (records that travel
    /// with the acknowledgement to the queue's own stream).
    pub fn validate(records: &[Record]) -> Result<(), SinkError> {
        for (index, record) in records.iter().enumerate() {
            if record.is_json() {
                json(index, record)?;
            }
        }
        Ok(())
    }

    /// Validate every record of a job, then write them as lines. A sink
    /// that is the queue's stream writes nothing here (the commit pipeline
    /// hands the records to the queue instead).
    pub fn write(&self, task: &Task, plugin: &str, records: &[Record]) -> Result<(), SinkError> {
        let out = match &self.target {
            Target::Lines(out) => out,
            Target::QueueStream(_) | Target::Database(_) => return Self::validate(records),
        };
        if records.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let (value, base64) = if record.is_json() {
                (Some(RecordValue::Json(json(index, record)?)), None)
            } else {
                match std::str::from_utf8(&record.data) {
                    Ok(text) => (Some(RecordValue::Text(text)), None),
                    Err(_) => (
                        None,
                        Some(base64::engine::general_purpose::STANDARD.encode(&record.data)),
                    ),
                }
            };
            lines.push(Line {
                task_id: &task.id,
                url: &task.url,
                plugin,
                content_type: &record.content_type,
                record: value,
                record_base64: base64,
            });
        }
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        for line in &lines {
            serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Push buffered lines to the file or pipe.
    pub fn flush(&self) -> std::io::Result<()> {
        match &self.target {
            Target::Lines(out) => out.lock().unwrap_or_else(|p| p.into_inner()).flush(),
            Target::QueueStream(_) | Target::Database(_) => Ok(()),
        }
    }
}

/// The record's data as JSON, or why it is not.
fn json(index: usize, record: &Record) -> Result<&RawValue, SinkError> {
    serde_json::from_slice(&record.data).map_err(|e| SinkError::BadJson {
        index,
        content_type: record.content_type.clone(),
        message: e.to_string(),
    })
}
