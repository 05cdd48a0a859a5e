//! The fast acknowledgement: a batch whose jobs have no follow-ups and no
//! records, and whose key-value writes merge, is acknowledged by
//! `ack_fast.lua` with its writes already reduced by the host, instead of by
//! `ack.lua` reading every job's writes in Lua.
//!
//! The writes merge when each key is only set (the last value wins, as in
//! order) or only added to with deltas of one sign whose sum fits in 64 bits
//! (the partial sums are then monotonic, so the sum applies to the stored
//! value exactly when every step would). A delete, or a key both set and
//! added to, or deltas of both signs, leave the batch to `ack.lua`, as does
//! the fast script itself when a lease was lost or Redis refuses a sum: it
//! then changes nothing, and `ack.lua` settles each job on its own.
//!
//! The script takes three arguments per job instead of `ack.lua`'s eleven;
//! what that saves is in BENCHMARKS.md (Optimisations, `ack_fast.lua`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use redis::{Script, ScriptInvocation};

use crate::kv::KvWrite;
use crate::redis::keys::{QueueKeys, GROUP};

/// A batch's key-value writes, merged; keys as the plugins' namespaced
/// ones ([`KvWrite::key`]), to which [`invocation`] adds the `jobhost:kv:`
/// prefix.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MergedWrites<'w> {
    /// Keys only set, with their last value, in the order first written.
    pub sets: Vec<(&'w str, &'w [u8])>,
    /// Keys only added to, with the sum of their deltas, in the order first
    /// written.
    pub adds: Vec<(&'w str, i64)>,
    /// Keys only set with an expiry, with their last value and time to
    /// live, in the order first written.
    pub expiring: Vec<(&'w str, &'w [u8], u64)>,
}

/// What one key's writes reduce to so far: an index into `sets` or `adds`.
#[derive(Clone, Copy)]
enum Merged {
    Set(usize),
    Add(usize),
    Expiring(usize),
}

/// Merge the writes of a batch's jobs, given in job order; `None` when they
/// do not merge (see the module's documentation).
pub fn merge_writes<'w>(jobs: impl IntoIterator<Item = &'w [KvWrite]>) -> Option<MergedWrites<'w>> {
    let mut merged = MergedWrites::default();
    let mut seen: HashMap<&'w str, Merged> = HashMap::new();
    for write in jobs.into_iter().flatten() {
        match write {
            KvWrite::Set { key, value } => match seen.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(Merged::Set(merged.sets.len()));
                    merged.sets.push((key, value));
                }
                Entry::Occupied(slot) => match *slot.get() {
                    Merged::Set(at) => merged.sets[at].1 = value,
                    _ => return None,
                },
            },
            KvWrite::Expiring { key, value, ttl_ms } => match seen.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(Merged::Expiring(merged.expiring.len()));
                    merged.expiring.push((key, value, *ttl_ms));
                }
                Entry::Occupied(slot) => match *slot.get() {
                    Merged::Expiring(at) => merged.expiring[at] = (key, value, *ttl_ms),
                    _ => return None,
                },
            },
            KvWrite::Add { key, delta } => match seen.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(Merged::Add(merged.adds.len()));
                    merged.adds.push((key, *delta));
                }
                Entry::Occupied(slot) => match *slot.get() {
                    Merged::Add(at) => {
                        let sum = &mut merged.adds[at].1;
                        if (*sum > 0 && *delta < 0) || (*sum < 0 && *delta > 0) {
                            return None;
                        }
                        *sum = sum.checked_add(*delta)?;
                    }
                    _ => return None,
                },
            },
            KvWrite::Delete { .. } => return None,
        }
    }
    Some(merged)
}

/// What a batch's jobs count for as they end: how many each plugin did,
/// how many of each schedule round, and the unique URLs they held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ended<'e> {
    /// (plugin, jobs), in the order first seen.
    pub plugins: Vec<(&'e str, usize)>,
    /// (round, jobs), in the order first seen.
    pub rounds: Vec<(&'e str, usize)>,
    /// URLs whose unique entries the jobs held.
    pub uniques: Vec<&'e str>,
    /// Jobs that ended on a 304 Not Modified.
    pub not_modified: usize,
}

/// The `ack_fast.lua` call for a batch: `ids` are its entries (and `first`,
/// `last` the smallest and the largest), `ended` what they count for.
#[allow(clippy::too_many_arguments)]
pub fn invocation<'s>(
    script: &'s Script,
    keys: &QueueKeys,
    consumer: &str,
    ids: &[&str],
    (first, last): (&str, &str),
    ended: &Ended<'_>,
    writes: &MergedWrites<'_>,
) -> ScriptInvocation<'s> {
    let mut invocation = script.prepare_invoke();
    invocation
        .key(&keys.stream)
        .key(&keys.stats)
        .arg(GROUP)
        .arg(consumer)
        .arg(ids.len())
        .arg(first)
        .arg(last)
        .arg(ended.plugins.len())
        .arg(writes.sets.len())
        .arg(writes.adds.len())
        .arg(ended.rounds.len())
        .arg(ended.uniques.len())
        .arg(writes.expiring.len())
        .arg(ended.not_modified);
    for id in ids {
        invocation.arg(*id);
    }
    for (plugin, jobs) in &ended.plugins {
        invocation.arg(*plugin).arg(*jobs);
    }
    for (key, value) in &writes.sets {
        invocation.arg(keys.kv.key(key)).arg(*value);
    }
    for (key, sum) in &writes.adds {
        invocation.arg(keys.kv.key(key)).arg(*sum);
    }
    for (round, jobs) in &ended.rounds {
        invocation.arg(*round).arg(*jobs);
    }
    for url in &ended.uniques {
        invocation.arg(*url);
    }
    for (key, value, ttl_ms) in &writes.expiring {
        invocation.arg(keys.kv.key(key)).arg(*value).arg(*ttl_ms);
    }
    invocation
}

/// Count `name` once more in `counts`, kept in the order first seen (a
/// batch holds few plugins and rounds).
pub fn count<'p>(counts: &mut Vec<(&'p str, usize)>, name: &'p str) {
    match counts.iter_mut().find(|(seen, _)| *seen == name) {
        Some((_, n)) => *n += 1,
        None => counts.push((name, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, value: &str) -> KvWrite {
        KvWrite::Set {
            key: key.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    fn add(key: &str, delta: i64) -> KvWrite {
        KvWrite::Add {
            key: key.into(),
            delta,
        }
    }

    #[test]
    fn sets_keep_the_last_value_and_adds_their_sum() {
        let jobs = [
            vec![set("a", "1"), add("n", 2)],
            vec![set("b", "x"), add("n", 3), set("a", "2")],
            vec![add("m", -4), add("m", 0)],
        ];
        let merged = merge_writes(jobs.iter().map(Vec::as_slice)).expect("merges");
        assert_eq!(merged.sets, vec![("a", &b"2"[..]), ("b", &b"x"[..])]);
        assert_eq!(merged.adds, vec![("n", 5), ("m", -4)]);
        assert!(merged.expiring.is_empty());
    }

    #[test]
    fn expiring_sets_keep_the_last_value_and_do_not_mix() {
        let expiring = |key: &str, value: &str, ttl_ms| KvWrite::Expiring {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            ttl_ms,
        };
        let jobs = [
            vec![expiring("v", "1", 10), set("a", "1")],
            vec![expiring("v", "2", 20), expiring("w", "3", 30)],
        ];
        let merged = merge_writes(jobs.iter().map(Vec::as_slice)).expect("merges");
        assert_eq!(
            merged.expiring,
            vec![("v", &b"2"[..], 20), ("w", &b"3"[..], 30)]
        );
        assert_eq!(merged.sets, vec![("a", &b"1"[..])]);
        let mixed = [vec![expiring("v", "1", 10)], vec![set("v", "2")]];
        assert_eq!(merge_writes(mixed.iter().map(Vec::as_slice)), None);
    }

    #[test]
    fn what_does_not_merge_is_left_to_the_general_script() {
        let cases = [
            vec![vec![KvWrite::Delete { key: "a".into() }]],
            vec![vec![set("a", "1")], vec![add("a", 1)]],
            vec![vec![add("a", 1)], vec![set("a", "1")]],
            vec![vec![add("a", 1), add("a", -1)]],
            vec![vec![add("a", -1)], vec![add("a", 0), add("a", 2)]],
            vec![vec![add("a", i64::MAX)], vec![add("a", 1)]],
            vec![vec![add("a", i64::MIN)], vec![add("a", -1)]],
        ];
        for jobs in cases {
            assert_eq!(
                merge_writes(jobs.iter().map(Vec::as_slice)),
                None,
                "{jobs:?}"
            );
        }
    }

    #[test]
    fn names_are_counted_in_the_order_first_seen() {
        let mut counts = Vec::new();
        for name in ["b", "a", "b", "b"] {
            count(&mut counts, name);
        }
        assert_eq!(counts, vec![("b", 3), ("a", 1)]);
    }
}
