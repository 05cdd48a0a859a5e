//! A record: what a plugin produces for the sink, in the host's own type
//! (the WIT binding's `sink-record` is converted at the runtime's edge, so
//! that sinks and queues do not depend on generated code).

/// One record of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its media type (`application/json` records are checked to parse).
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Record {
    /// Whether the record is labelled JSON (`application/json` or `*+json`,
    /// parameters ignored).
    pub fn is_json(&self) -> bool {
        let essence = self.content_type.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
    }
}
