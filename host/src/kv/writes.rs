//! A job's pending key-value writes: recorded while its plugin runs, seen by
//! the job's own reads, and applied together with its acknowledgement (the
//! contract is in the `kv` interface of `wit/plugin.wit`).
//!
//! Keeping the writes until the acknowledgement does two things. A job's
//! effects on the store become all-or-nothing with the job itself: a job
//! that fails, is retried or dies with its host leaves nothing behind, and
//! `add` counts each successful job exactly once. And the writes cost no
//! round trip of their own: on Redis they travel in the acknowledgement's
//! script call, which the acknowledger already batches (see
//! `queue/redis/ack.lua`; BENCHMARKS.md, Optimisations, has what that
//! saved).

use super::{own_key, KvError};

/// One pending write, on a namespaced key (`plugin:key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvWrite {
    /// Store `value` under `key`.
    Set {
        /// The namespaced key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// The namespaced key.
        key: String,
    },
    /// Add `delta` to the integer under `key` (absent counts as 0).
    Add {
        /// The namespaced key.
        key: String,
        /// The amount.
        delta: i64,
    },
    /// Store `value` under `key` for `ttl_ms` milliseconds. Only the host
    /// writes these (a URL's validators, `fetch/conditional.rs`); the
    /// plugins' interface has no expiry.
    Expiring {
        /// The namespaced key.
        key: String,
        /// The new value.
        value: Vec<u8>,
        /// How long it lives, in milliseconds (at least 1).
        ttl_ms: u64,
    },
}

impl KvWrite {
    /// The namespaced key it writes.
    pub fn key(&self) -> &str {
        match self {
            KvWrite::Set { key, .. }
            | KvWrite::Delete { key }
            | KvWrite::Add { key, .. }
            | KvWrite::Expiring { key, .. } => key,
        }
    }

    /// Bytes it carries (key and value), for the limits and batch sizes.
    pub fn size(&self) -> usize {
        match self {
            KvWrite::Set { key, value } => key.len() + value.len(),
            KvWrite::Expiring { key, value, .. } => key.len() + value.len() + 8,
            KvWrite::Delete { key } | KvWrite::Add { key, .. } => key.len() + 8,
        }
    }
}

/// Most writes one job may leave pending.
pub const MAX_PENDING_WRITES: usize = 10_000;
/// Most bytes (keys and values) one job may leave pending.
pub const MAX_PENDING_BYTES: usize = 32 << 20;

/// What a job's own writes say about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The job has not written the key: the store decides.
    Untouched,
    /// The job's writes decide the value (`None`: deleted).
    Known(Option<Vec<u8>>),
    /// The job added this much to whatever the store holds.
    Plus(i64),
}

/// The writes of one job, in the order it made them.
#[derive(Debug, Default)]
pub struct PendingWrites {
    writes: Vec<KvWrite>,
    bytes: usize,
}

impl PendingWrites {
    /// Record a write, within the per-job limits.
    pub fn push(&mut self, write: KvWrite) -> Result<(), KvError> {
        if self.writes.len() >= MAX_PENDING_WRITES {
            return Err(KvError::TooManyWrites {
                limit: format!("{MAX_PENDING_WRITES} writes"),
            });
        }
        let size = write.size();
        if self.bytes + size > MAX_PENDING_BYTES {
            return Err(KvError::TooManyWrites {
                limit: format!("{} MiB of keys and values", MAX_PENDING_BYTES >> 20),
            });
        }
        self.bytes += size;
        self.writes.push(write);
        Ok(())
    }

    /// What the pending writes say about `key`.
    pub fn seen(&self, key: &str) -> Result<Seen, KvError> {
        let mut touched = false;
        // `Some(value)`: a set or delete decided the value; `None`: the store.
        let mut base: Option<Option<&[u8]>> = None;
        let mut delta: i64 = 0;
        let mut added = false;
        for write in self.writes.iter().filter(|w| w.key() == key) {
            touched = true;
            match write {
                KvWrite::Set { value, .. } | KvWrite::Expiring { value, .. } => {
                    base = Some(Some(value));
                    delta = 0;
                    added = false;
                }
                KvWrite::Delete { .. } => {
                    base = Some(None);
                    delta = 0;
                    added = false;
                }
                KvWrite::Add { delta: d, .. } => {
                    delta = delta.checked_add(*d).ok_or_else(|| overflow(key))?;
                    added = true;
                }
            }
        }
        Ok(match (touched, base) {
            (false, _) => Seen::Untouched,
            (true, None) => Seen::Plus(delta),
            (true, Some(value)) if !added => Seen::Known(value.map(<[u8]>::to_vec)),
            (true, Some(value)) => {
                Seen::Known(Some(add_to(value, delta, key)?.to_string().into_bytes()))
            }
        })
    }

    /// Remove and return the writes to `key`, in order (for an immediate
    /// operation that must see them applied first).
    pub fn take_key(&mut self, key: &str) -> Vec<KvWrite> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.writes)
            .into_iter()
            .partition(|w| w.key() == key);
        self.writes = kept;
        self.bytes = self.writes.iter().map(KvWrite::size).sum();
        taken
    }

    /// Remove and return every write, in order.
    pub fn take(&mut self) -> Vec<KvWrite> {
        self.bytes = 0;
        std::mem::take(&mut self.writes)
    }

    /// Forget every write (the job failed).
    pub fn clear(&mut self) {
        self.writes.clear();
        self.bytes = 0;
    }

    /// No writes pending.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// The integer a stored value holds, as Redis's `INCRBY` reads it (absent
/// counts as 0).
pub fn parse_integer(value: Option<&[u8]>) -> Option<i64> {
    match value {
        None => Some(0),
        Some(bytes) => std::str::from_utf8(bytes).ok()?.trim().parse().ok(),
    }
}

/// `value + delta`, or the error `INCRBY` would give.
pub fn add_to(value: Option<&[u8]>, delta: i64, key: &str) -> Result<i64, KvError> {
    let current = parse_integer(value).ok_or_else(|| KvError::NotAnInteger {
        key: own_key(key).to_owned(),
    })?;
    current.checked_add(delta).ok_or_else(|| overflow(key))
}

fn overflow(key: &str) -> KvError {
    KvError::Overflow {
        key: own_key(key).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, value: &str) -> KvWrite {
        KvWrite::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    fn add(key: &str, delta: i64) -> KvWrite {
        KvWrite::Add {
            key: key.into(),
            delta,
        }
    }

    #[test]
    fn a_job_sees_its_own_writes_in_order() {
        let mut writes = PendingWrites::default();
        assert_eq!(writes.seen("p:a").unwrap(), Seen::Untouched);
        writes.push(add("p:a", 2)).unwrap();
        writes.push(add("p:a", 3)).unwrap();
        assert_eq!(writes.seen("p:a").unwrap(), Seen::Plus(5));
        writes.push(set("p:a", "10")).unwrap();
        assert_eq!(
            writes.seen("p:a").unwrap(),
            Seen::Known(Some(b"10".to_vec()))
        );
        writes.push(add("p:a", -4)).unwrap();
        assert_eq!(
            writes.seen("p:a").unwrap(),
            Seen::Known(Some(b"6".to_vec()))
        );
        writes.push(KvWrite::Delete { key: "p:a".into() }).unwrap();
        assert_eq!(writes.seen("p:a").unwrap(), Seen::Known(None));
        writes.push(add("p:a", 1)).unwrap();
        assert_eq!(
            writes.seen("p:a").unwrap(),
            Seen::Known(Some(b"1".to_vec()))
        );
        // Other keys are not disturbed.
        assert_eq!(writes.seen("p:b").unwrap(), Seen::Untouched);
    }

    #[test]
    fn taking_one_key_keeps_the_others_in_order() {
        let mut writes = PendingWrites::default();
        writes.push(set("p:a", "x")).unwrap();
        writes.push(add("p:b", 1)).unwrap();
        writes.push(add("p:a", 1)).unwrap();
        writes.push(set("p:c", "y")).unwrap();
        assert_eq!(writes.take_key("p:a"), vec![set("p:a", "x"), add("p:a", 1)]);
        assert_eq!(writes.take(), vec![add("p:b", 1), set("p:c", "y")]);
        assert!(writes.is_empty());
    }

    #[test]
    fn limits_and_bad_integers_are_refused_with_the_key() {
        let mut writes = PendingWrites::default();
        writes.push(set("p:a", "not a number")).unwrap();
        writes.push(add("p:a", 1)).unwrap();
        let error = writes.seen("p:a").unwrap_err().to_string();
        assert!(
            error.contains("`a`") && error.contains("not a decimal integer"),
            "{error}"
        );

        let mut writes = PendingWrites::default();
        writes.push(add("p:n", i64::MAX)).unwrap();
        writes.push(add("p:n", 1)).unwrap();
        assert!(matches!(writes.seen("p:n"), Err(KvError::Overflow { .. })));

        let mut writes = PendingWrites::default();
        for _ in 0..MAX_PENDING_WRITES {
            writes.push(add("p:k", 1)).unwrap();
        }
        let error = writes.push(add("p:k", 1)).unwrap_err().to_string();
        assert!(error.contains("10000 writes"), "{error}");
        let mut writes = PendingWrites::default();
        let big = vec![0u8; MAX_PENDING_BYTES];
        let error = writes
            .push(KvWrite::Set {
                key: "p:big".into(),
                value: big,
            })
            .unwrap_err()
            .to_string();
        assert!(error.contains("MiB"), "{error}");
    }
}
