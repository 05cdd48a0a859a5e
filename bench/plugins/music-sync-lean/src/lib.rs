//! music-sync for benchmarks: the code of `plugins/music-sync` (its
//! `handler.rs`, `status.rs` and `track.rs`, included as they are), built
//! for `wasm32-unknown-unknown` (no WASI) with the bump allocator in
//! `heap.rs`. It answers to the same name, `music-sync`, and
//! makes the same records, kv writes and log line. Not an example to copy:
//! see README.md.

// The module names match the example's, so its files compile unchanged.
mod heap;
#[path = "../../../../plugins/music-sync/src/handler.rs"]
mod handler;
#[path = "../../../../plugins/music-sync/src/status.rs"]
mod status;
#[path = "../../../../plugins/music-sync/src/track.rs"]
mod track;

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use handler::MusicSync;

export!(MusicSync);
