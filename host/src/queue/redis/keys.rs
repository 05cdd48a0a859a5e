//! Every Redis key and script jobhost uses, in one place, so that an operator
//! can find each with redis-cli (see docs/redis.md).
//!
//! All keys of a queue share the hash tag `{NAME}`. Redis Cluster is not
//! supported yet (the client is single-node, and the seed list and record
//! stream named by the user carry no hash tag).

use redis::Script;

use crate::kv::KvWrite;

/// The consumer group every host joins.
pub const GROUP: &str = "workers";

/// The keys of one queue.
#[derive(Debug, Clone)]
pub struct Keys {
    /// STREAM of ready and in-flight tasks (field `task`: wire JSON, or
    /// `raw`: a producer's line). In flight = pending in [`GROUP`].
    pub stream: String,
    /// ZSET of delayed tasks (member: wire JSON, score: due time in ms).
    pub delayed: String,
    /// HASH of dead letters (field: task id, value: JSON).
    pub dead: String,
    /// ZSET of dead task ids by time of death (ms), for listing in order.
    pub dead_index: String,
    /// HASH of counters: enqueued, done, retried, dead, done:PLUGIN, dead:PLUGIN.
    pub stats: String,
    /// SET of URLs seen, for `--dedupe`.
    pub seen: String,
    /// Prefix of the politeness keys of one URL host:
    /// `PREFIX{host}:hold` (STRING with a TTL), `PREFIX{host}:rate` (STRING:
    /// next allowed time in ms), `PREFIX{host}:slots` (ZSET of fetch slots
    /// by expiry).
    pub host_prefix: String,
}

impl Keys {
    /// Keys of the queue called `name`.
    pub fn new(name: &str) -> Self {
        let key = |suffix: &str| format!("jobhost:{{{name}}}:{suffix}");
        Keys {
            stream: key("stream"),
            delayed: key("delayed"),
            dead: key("dead"),
            dead_index: key("dead:index"),
            stats: key("stats"),
            seen: key("seen"),
            host_prefix: key("host:"),
        }
    }
}

/// The key under which plugin `plugin` stores `key` (`kv` import).
pub fn kv_key(namespaced: &str) -> String {
    format!("jobhost:kv:{namespaced}")
}

macro_rules! script {
    ($file:literal) => {
        Script::new(concat!(include_str!("common.lua"), include_str!($file)))
    };
}

/// The script that applies key-value writes at once (`kv_apply.lua`).
pub fn kv_apply_script() -> Script {
    script!("kv_apply.lua")
}

/// Add a job's key-value writes to a script call, as `kv_writes` in
/// `common.lua` reads them: a count, then (op, key, value) triples.
pub fn push_kv_writes(invocation: &mut redis::ScriptInvocation<'_>, writes: &[KvWrite]) {
    invocation.arg(writes.len());
    push_kv_triples(invocation, writes);
}

/// Add the (op, key, value) triples of `writes` to a script call, without
/// their count (`ack.lua` takes the count in the job's header).
pub fn push_kv_triples(invocation: &mut redis::ScriptInvocation<'_>, writes: &[KvWrite]) {
    for write in writes {
        match write {
            KvWrite::Set { key, value } => invocation.arg("s").arg(kv_key(key)).arg(&value[..]),
            KvWrite::Delete { key } => invocation.arg("d").arg(kv_key(key)).arg(""),
            KvWrite::Add { key, delta } => invocation.arg("a").arg(kv_key(key)).arg(*delta),
        };
    }
}

/// The Lua scripts, loaded once per process (EVALSHA, reloaded if Redis
/// restarted and forgot them).
pub struct Scripts {
    /// Enqueue a batch.
    pub enqueue: Script,
    /// Ack with follow-ups and records.
    pub ack: Script,
    /// Ack a batch whose writes the host merged (`fast_ack.rs`).
    pub ack_fast: Script,
    /// Schedule a retry.
    pub retry: Script,
    /// Dead-letter.
    pub bury: Script,
    /// Hand back on shutdown.
    pub release: Script,
    /// Heartbeat.
    pub renew: Script,
    /// Take over lapsed leases.
    pub reclaim: Script,
    /// Delayed → stream.
    pub promote: Script,
    /// Seed list → stream.
    pub seed: Script,
    /// Dead letters → stream.
    pub dead_retry: Script,
    /// Take a politeness slot for a URL host.
    pub host_acquire: Script,
    /// Hold a URL host back.
    pub host_hold: Script,
}

impl Scripts {
    /// Compile-time embedded scripts.
    pub fn new() -> Self {
        Scripts {
            enqueue: script!("enqueue.lua"),
            ack: script!("ack.lua"),
            ack_fast: script!("ack_fast.lua"),
            retry: script!("retry.lua"),
            bury: script!("bury.lua"),
            release: script!("release.lua"),
            renew: script!("renew.lua"),
            reclaim: script!("reclaim.lua"),
            promote: script!("promote.lua"),
            seed: script!("seed.lua"),
            dead_retry: script!("dead_retry.lua"),
            host_acquire: script!("host_acquire.lua"),
            host_hold: script!("host_hold.lua"),
        }
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::new()
    }
}
