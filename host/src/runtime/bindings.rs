//! Host-side bindings generated from `wit/plugin.wit`.
//!
//! Owns nothing but the generated code: the `Plugin` world (exports
//! `describe` and `handle`) and the `log`/`kv` import traits, which
//! `host_imports.rs` implements. The exports are async, so that long plugin
//! calls can yield, and so are the key-value calls that consult the store
//! (`get`, `delete`, `increment`), which may wait on the network.

// Generated items carry the WIT's own comments where it has them.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    // `log`, `set` and `add` finish at once (writes are applied with the
    // job's acknowledgement), so they are plain calls: no future to poll on
    // the plugin's fiber (BENCHMARKS.md, Optimisations, plain host calls).
    imports: {
        "jobhost:plugin/kv.get": async,
        "jobhost:plugin/kv.delete": async,
        "jobhost:plugin/kv.increment": async,
    },
    exports: { default: async },
});

pub use exports_types::*;

/// Re-export of the generated `types` interface under a short name.
pub mod exports_types {
    pub use super::jobhost::plugin::types::{
        Content, FollowUp, HandleError, Limits, Outcome, PluginInfo, RetryError, SinkRecord, Task,
    };
}
