//! The key-value store behind the plugins' `kv` import.
//!
//! One trait, [`KvStore`], with backends as equals: [`memory`] (one process)
//! and [`redis`] (shared by every host on one Redis). Keys reach a backend already namespaced
//! per plugin (see [`namespaced`]), so a backend never has to know about
//! plugins and two plugins never see each other's keys.

pub mod memory;
pub mod redis;
pub mod writes;

use std::future::Future;

pub use self::redis::RedisKv;
pub use memory::MemoryKv;
pub use writes::{KvWrite, PendingWrites};

/// What can go wrong in a key-value operation. The message is handed to the
/// plugin as the `kv` import's error string.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// `increment` on a value that is not a decimal integer.
    #[error("value under `{key}` is not a decimal integer, so it cannot be incremented")]
    NotAnInteger {
        /// The plugin's own key (without the namespace).
        key: String,
    },
    /// `increment` would overflow a signed 64-bit integer.
    #[error("incrementing `{key}` overflows a signed 64-bit integer")]
    Overflow {
        /// The plugin's own key (without the namespace).
        key: String,
    },
    /// A job left more writes pending than one job may.
    #[error("too many pending writes in one job (the limit is {limit}); a job's writes are kept until it is acknowledged, so split the work over several jobs")]
    TooManyWrites {
        /// The limit, in words.
        limit: String,
    },
    /// The backend could not be reached or failed.
    #[error("key-value backend failed: {0}")]
    Backend(String),
}

/// A key-value store shared by every job (and, with a networked backend, by
/// every host). Values are opaque bytes.
pub trait KvStore: Send + Sync + 'static {
    /// The value stored under `key`, if any.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, KvError>> + Send;
    /// Store `value` under `key`.
    fn set(&self, key: &str, value: Vec<u8>) -> impl Future<Output = Result<(), KvError>> + Send;
    /// Remove `key`; true if it existed.
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool, KvError>> + Send;
    /// Add `delta` to the integer under `key` (absent counts as 0).
    fn increment(&self, key: &str, delta: i64)
        -> impl Future<Output = Result<i64, KvError>> + Send;
    /// Apply a job's writes, in order. An `add` to a value that is not an
    /// integer (or that would overflow) is skipped, and said so in the
    /// returned warnings; everything else is applied.
    fn apply(
        &self,
        writes: Vec<KvWrite>,
    ) -> impl Future<Output = Result<Vec<String>, KvError>> + Send;
}

/// The key a backend stores for `key` of plugin `plugin`: `plugin:key`.
///
/// Plugin names cannot contain `:` (see `task::valid_plugin_name`), so the
/// first `:` always ends the namespace and no two plugins can collide.
pub fn namespaced(plugin: &str, key: &str) -> String {
    let mut full = String::with_capacity(plugin.len() + 1 + key.len());
    full.push_str(plugin);
    full.push(':');
    full.push_str(key);
    full
}

/// Strip the namespace again, for error messages that the plugin reads.
pub(crate) fn own_key(full: &str) -> &str {
    full.split_once(':').map_or(full, |(_, key)| key)
}

/// The backend chosen at start-up. An enum rather than a trait object: the
/// trait's methods return `impl Future`, and a `match` costs nothing per call.
#[derive(Debug)]
pub enum AnyKv {
    /// In this process only.
    Memory(MemoryKv),
    /// Shared by every host on one Redis.
    Redis(RedisKv),
}

impl KvStore for AnyKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            AnyKv::Memory(kv) => kv.get(key).await,
            AnyKv::Redis(kv) => kv.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        match self {
            AnyKv::Memory(kv) => kv.set(key, value).await,
            AnyKv::Redis(kv) => kv.set(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        match self {
            AnyKv::Memory(kv) => kv.delete(key).await,
            AnyKv::Redis(kv) => kv.delete(key).await,
        }
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        match self {
            AnyKv::Memory(kv) => kv.increment(key, delta).await,
            AnyKv::Redis(kv) => kv.increment(key, delta).await,
        }
    }

    async fn apply(&self, writes: Vec<KvWrite>) -> Result<Vec<String>, KvError> {
        match self {
            AnyKv::Memory(kv) => kv.apply(writes).await,
            AnyKv::Redis(kv) => kv.apply(writes).await,
        }
    }
}
