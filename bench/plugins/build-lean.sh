#!/usr/bin/env bash
# Builds bench/plugins/music-sync-lean.wasm: music-sync without WASI, for
# wasm32-unknown-unknown, linked into a component by the wasm-component-ld
# that ships with the Rust toolchain (for wasm32-wasip2). See
# bench/plugins/music-sync-lean/README.md. Honours CARGO_TARGET_DIR; works
# from any directory.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=wasm32-unknown-unknown
if [[ -n ${CARGO_TARGET_DIR:-} && $CARGO_TARGET_DIR != /* ]]; then
    export CARGO_TARGET_DIR=$PWD/$CARGO_TARGET_DIR
fi
target_dir=${CARGO_TARGET_DIR:-$repo_root/target}/music-sync-lean
crate=$repo_root/bench/plugins/music-sync-lean

rustup target list --installed | grep -qx "$target" || rustup target add "$target"
linker=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/wasm-component-ld
if [[ ! -x $linker ]]; then
    echo "error: $linker is missing (recent Rust toolchains ship it, for wasm32-wasip2: update Rust with rustup)" >&2
    exit 1
fi
(cd "$crate" && CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=$linker \
    cargo build --profile plugin --target "$target" --target-dir "$target_dir")
cp "$target_dir/$target/plugin/music_sync_lean.wasm" "$repo_root/bench/plugins/music-sync-lean.wasm"
printf '  %8s bytes  bench/plugins/music-sync-lean.wasm\n' "$(wc -c < "$repo_root/bench/plugins/music-sync-lean.wasm")"
