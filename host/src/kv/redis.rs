//! Redis key-value backend: plugins' keys shared by every host on one Redis.
//!
//! Keys are `jobhost:kv:PLUGIN:KEY` (see `redis/keys.rs`). Outages
//! surface as errors to the plugin, which normally answers with
//! `handle-error::retry`, so the job is retried rather than lost.
//!
//! This module owns how writes travel to Redis: the Lua functions that apply
//! them (`kv_writes.lua`, which the queue's acknowledgement scripts include
//! to apply a job's writes atomically with its acknowledgement) and their
//! argument encoding ([`push_kv_writes`], [`push_kv_triples`]).

use crate::redis::Conn;
use redis::AsyncCommands;

use super::{own_key, KvError, KvStore, KvWrite};
use crate::redis::keys::KvKeys;

/// Lua functions that apply writes inside a script (`kv_write`,
/// `kv_writes`, `kv_batch`), for scripts of other owners to include.
pub const LUA_KV_WRITES: &str = include_str!("kv_writes.lua");

/// The script that applies writes at once, in order (`kv_apply.lua`).
pub fn apply_script() -> redis::Script {
    crate::redis::script(&[LUA_KV_WRITES, include_str!("kv_apply.lua")])
}

/// Add a job's key-value writes to a script call, as `kv_writes` in
/// `kv_writes.lua` reads them: a count, then (op, key, value) triples.
pub fn push_kv_writes(
    invocation: &mut redis::ScriptInvocation<'_>,
    keys: &KvKeys,
    writes: &[KvWrite],
) {
    invocation.arg(writes.len());
    push_kv_triples(invocation, keys, writes);
}

/// Add the (op, key, value) triples of `writes` to a script call, without
/// their count (a script that takes the count elsewhere, as `ack.lua` does
/// in each job's header).
pub fn push_kv_triples(
    invocation: &mut redis::ScriptInvocation<'_>,
    keys: &KvKeys,
    writes: &[KvWrite],
) {
    for write in writes {
        match write {
            KvWrite::Set { key, value } => invocation.arg("s").arg(keys.key(key)).arg(&value[..]),
            KvWrite::Delete { key } => invocation.arg("d").arg(keys.key(key)).arg(""),
            KvWrite::Add { key, delta } => invocation.arg("a").arg(keys.key(key)).arg(*delta),
            KvWrite::Expiring { key, value, ttl_ms } => invocation
                .arg(format!("e{ttl_ms}"))
                .arg(keys.key(key))
                .arg(&value[..]),
        };
    }
}

/// A [`KvStore`] on Redis.
#[derive(Clone)]
pub struct RedisKv {
    conn: Conn,
    keys: KvKeys,
    apply: redis::Script,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv").finish_non_exhaustive()
    }
}

impl RedisKv {
    /// Use an existing connection, with keys laid out as `keys` says.
    pub fn new(conn: Conn, keys: KvKeys) -> Self {
        RedisKv {
            conn,
            keys,
            apply: apply_script(),
        }
    }
}

fn failed(e: redis::RedisError) -> KvError {
    KvError::Backend(e.to_string())
}

impl KvStore for RedisKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut conn = self.conn.clone();
        conn.get(self.keys.key(key)).await.map_err(failed)
    }

    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        let mut conn = self.conn.clone();
        conn.set(self.keys.key(key), value).await.map_err(failed)
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let mut conn = self.conn.clone();
        let removed: u64 = conn.del(self.keys.key(key)).await.map_err(failed)?;
        Ok(removed > 0)
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let mut conn = self.conn.clone();
        conn.incr(self.keys.key(key), delta).await.map_err(|e| {
            let text = e.to_string();
            if text.contains("overflow") {
                KvError::Overflow {
                    key: own_key(key).to_owned(),
                }
            } else if text.contains("not an integer") {
                KvError::NotAnInteger {
                    key: own_key(key).to_owned(),
                }
            } else {
                failed(e)
            }
        })
    }

    async fn apply(&self, writes: Vec<KvWrite>) -> Result<Vec<String>, KvError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut invocation = self.apply.prepare_invoke();
        // Declared for routing only (a Redis Cluster sends the script to
        // the node of its first key; all of a queue's keys share its slot).
        invocation.key(self.keys.key(writes[0].key()));
        push_kv_writes(&mut invocation, &self.keys, &writes);
        let skipped: u64 = invocation.invoke_async(&mut conn).await.map_err(failed)?;
        Ok(skipped_warning(skipped).into_iter().collect())
    }
}

/// The warning for adds that Redis left out, if any.
pub fn skipped_warning(skipped: u64) -> Option<String> {
    (skipped > 0).then(|| {
        format!("{skipped} add(s) left out: the stored value was not a decimal integer, or the sum overflowed")
    })
}
