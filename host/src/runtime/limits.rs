//! Per-job limits: what one plugin call may use, and the messages that name
//! the limit a job broke.
//!
//! Memory, tables and instances are enforced by [`JobLimiter`] as the guest
//! grows them (it remembers a refusal so that the trap that usually follows
//! can say which limit was hit); the deadline by epoch interruption
//! (`engine.rs`); fuel, when enabled, by wasmtime; the size of what a job
//! returns by [`check_outcome`] before anything is recorded.

use std::time::Duration;

use wasmtime::{ResourceLimiter, Trap};

use super::bindings::Outcome;

/// Instances one job may create (a component holds several core instances).
pub const MAX_INSTANCES: usize = 64;
/// Tables one job may create.
pub const MAX_TABLES: usize = 64;
/// Memories one job may create.
pub const MAX_MEMORIES: usize = 8;
/// Elements one table may grow to.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Limits on what a job returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Total bytes of all records of one job.
    pub max_record_bytes: usize,
    /// Follow-up tasks one job may return.
    pub max_follow_ups: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_record_bytes: 8 << 20,
            max_follow_ups: 1000,
        }
    }
}

/// The resource limiter of one job's store.
#[derive(Debug)]
pub struct JobLimiter {
    memory: usize,
    /// Set when a growth was refused: the limit, in words.
    pub(crate) refused: Option<String>,
}

impl JobLimiter {
    /// At most `memory` bytes of linear memory per memory.
    pub fn new(memory: usize) -> Self {
        JobLimiter {
            memory,
            refused: None,
        }
    }
}

impl ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.refused = Some(format!(
                "memory limit exceeded: the plugin asked for {} MiB, the limit is {} MiB (--max-memory, or limits.memory-bytes in describe())",
                desired.div_ceil(1 << 20),
                self.memory >> 20
            ));
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.refused = Some(format!(
                "table limit exceeded: the plugin asked for {desired} elements, the limit is {MAX_TABLE_ELEMENTS}"
            ));
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// What a trap means, in terms of the limit it broke (if any).
pub fn describe_trap(
    error: &wasmtime::Error,
    timeout: Duration,
    fuel: Option<u64>,
    refused: Option<&str>,
) -> String {
    let text = format!("{error:#}");
    if text.contains("deadline exceeded") {
        return format!(
            "deadline exceeded: the call ran longer than {timeout:?} (--plugin-timeout, or limits.timeout-ms in describe())"
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => format!(
            "fuel exhausted: the call used more than {} units (--fuel)",
            fuel.unwrap_or(0)
        ),
        Some(Trap::StackOverflow) => {
            "stack overflow: the plugin recursed too deeply (call stack exhausted)".to_owned()
        }
        // Languages that keep their stack in linear memory (Rust, C) run
        // off its end into an out-of-bounds access when they recurse too deep.
        Some(Trap::MemoryOutOfBounds) if refused.is_none() => format!(
            "{} (deep recursion overflowing the plugin's own stack does this)",
            Trap::MemoryOutOfBounds
        ),
        Some(trap) => match refused {
            // A refused growth usually ends in an abort; say why.
            Some(refused) => format!("{refused} (then: {trap})"),
            None => trap.to_string(),
        },
        None => match refused {
            Some(refused) => format!("{refused} (then: {text})"),
            None => text,
        },
    }
}

/// Check a job's outcome against the output limits.
pub fn check_outcome(outcome: &Outcome, limits: &OutputLimits) -> Result<(), String> {
    if outcome.follow_ups.len() > limits.max_follow_ups {
        return Err(format!(
            "follow-up limit exceeded: the plugin returned {} follow-ups, the limit is {} (--max-follow-ups)",
            outcome.follow_ups.len(),
            limits.max_follow_ups
        ));
    }
    let bytes: usize = outcome.records.iter().map(|r| r.data.len()).sum();
    if bytes > limits.max_record_bytes {
        return Err(format!(
            "output limit exceeded: the plugin returned {} KiB of records, the limit is {} KiB (--max-output)",
            bytes.div_ceil(1024),
            limits.max_record_bytes / 1024
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::{FollowUp, SinkRecord};

    #[test]
    fn memory_growth_past_the_limit_is_refused_and_named() {
        let mut limiter = JobLimiter::new(2 << 20);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(limiter.refused.is_none());
        assert!(!limiter.memory_growing(1 << 20, 3 << 20, None).unwrap());
        let refused = limiter.refused.as_deref().unwrap();
        assert!(refused.contains("memory limit exceeded"), "{refused}");
        assert!(refused.contains("limit is 2 MiB"), "{refused}");
    }

    #[test]
    fn tables_are_bounded() {
        let mut limiter = JobLimiter::new(1 << 20);
        assert!(limiter.table_growing(0, 10, None).unwrap());
        assert!(!limiter
            .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
            .unwrap());
        assert!(limiter.refused.unwrap().contains("table limit exceeded"));
    }

    #[test]
    fn outcome_limits_name_the_limit() {
        let limits = OutputLimits {
            max_record_bytes: 10,
            max_follow_ups: 1,
        };
        let record = |n: usize| SinkRecord {
            content_type: "text/plain".into(),
            data: vec![b'x'; n],
        };
        let follow = || FollowUp {
            url: "https://a/".into(),
            plugin: None,
            metadata: Vec::new(),
        };
        let ok = Outcome {
            records: vec![record(5), record(5)],
            follow_ups: vec![follow()],
        };
        assert!(check_outcome(&ok, &limits).is_ok());
        let big = Outcome {
            records: vec![record(11)],
            follow_ups: Vec::new(),
        };
        assert!(check_outcome(&big, &limits)
            .unwrap_err()
            .contains("output limit exceeded"));
        let many = Outcome {
            records: Vec::new(),
            follow_ups: vec![follow(), follow()],
        };
        assert!(check_outcome(&many, &limits)
            .unwrap_err()
            .contains("follow-up limit exceeded"));
    }

    #[test]
    fn traps_are_described_by_the_limit_they_broke() {
        let deadline = wasmtime::Error::msg("deadline exceeded");
        let text = describe_trap(&deadline, Duration::from_millis(500), None, None);
        assert!(
            text.starts_with("deadline exceeded: the call ran longer than 500ms"),
            "{text}"
        );
        let fuel = wasmtime::Error::from(Trap::OutOfFuel);
        assert!(describe_trap(&fuel, Duration::ZERO, Some(7), None).contains("more than 7 units"));
        let stack = wasmtime::Error::from(Trap::StackOverflow);
        assert!(describe_trap(&stack, Duration::ZERO, None, None).starts_with("stack overflow"));
    }
}
