//! Host-side bindings generated from `wit/plugin.wit`.
//!
//! Owns nothing but the generated code: the `Plugin` world (exports
//! `describe` and `handle`) and the `log`/`kv` import traits, which
//! `host_imports.rs` implements. Everything is async so that the key-value
//! store can be backed by the network and long plugin calls can yield.

// Generated items carry the WIT's own comments where it has them.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

pub use exports_types::*;

/// Re-export of the generated `types` interface under a short name.
pub mod exports_types {
    pub use super::jobhost::plugin::types::{
        Content, FollowUp, HandleError, Limits, Outcome, PluginInfo, RetryError, SinkRecord, Task,
    };
}
