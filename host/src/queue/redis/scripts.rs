//! The queue's Lua scripts, loaded once per process (EVALSHA, reloaded if
//! Redis restarted and forgot them). Each is the Redis layer's prelude, the
//! key-value store's write functions (the acknowledgements apply a job's
//! writes), this queue's `common.lua`, then the script; the header of each
//! `.lua` file states its KEYS and ARGV.

use redis::Script;

use crate::kv::redis::LUA_KV_WRITES;

/// The queue's shared Lua (lease checks, round and unique-set accounting),
/// for scripts of other modules that settle rounds (`schedule/`).
pub const LUA_COMMON: &str = include_str!("common.lua");

macro_rules! script {
    ($file:literal) => {
        crate::redis::script(&[LUA_KV_WRITES, LUA_COMMON, include_str!($file)])
    };
}

/// The queue's scripts.
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
        }
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::new()
    }
}
