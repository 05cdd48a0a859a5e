#!/usr/bin/env bash
# Regenerates the generated files of the music-sync ports, which are kept in
# the repository so that building needs neither generator:
#
#   plugins/music-sync-c/bindings/    plugin.c, plugin.h
#                                     (wit-bindgen c, from wit/)
#   plugins/music-sync-c/src/unicode_tables.h
#   plugins/music-sync-js/src/unicode-tables.js
#   plugins/music-sync-py/music_sync/unicode_tables.py
#                                     (tools/unicode_tables.rs, from the Rust
#                                     standard library of the toolchain that
#                                     builds the Rust music-sync)
#
# Run it after changing wit/ or the Rust toolchain. wit-bindgen-cli is built
# once (C backend only, a few minutes on 2 cores) into .toolchains/wit-bindgen.
# Works from any directory.
#
# `--no-object-file`: wit-bindgen would also write plugin_component_type.o, a
# binary holding the world's type; plugins/build.sh embeds that type from
# wit/ with `wasm-tools component embed` instead.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
plugins=$repo_root/plugins
toolchains=$repo_root/.toolchains
# The wit-bindgen the Rust plugins use (Cargo.toml), so that every guest
# speaks the same component-model ABI to wasmtime.
wit_bindgen_version=0.46.0

mkdir -p "$toolchains"
[[ -f $toolchains/.gitignore ]] || printf '*\n' > "$toolchains/.gitignore"

wit_bindgen=$toolchains/wit-bindgen/bin/wit-bindgen
if [[ ! -x $wit_bindgen || $("$wit_bindgen" --version) != *" $wit_bindgen_version"* ]]; then
    echo "==> cargo install wit-bindgen-cli $wit_bindgen_version (C backend only)"
    cargo install wit-bindgen-cli --version "$wit_bindgen_version" --locked \
        --no-default-features --features c --root "$toolchains/wit-bindgen"
fi
echo "==> wit-bindgen c $repo_root/wit --world plugin --no-object-file"
"$wit_bindgen" c "$repo_root/wit" --world plugin --no-object-file --out-dir "$plugins/music-sync-c/bindings"

echo "==> Unicode tables from $(rustc --version)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
rustc --edition 2021 -O -o "$scratch/unicode_tables" "$plugins/music-sync-c/tools/unicode_tables.rs"
"$scratch/unicode_tables" \
    "$plugins/music-sync-js/src/unicode-tables.js" \
    "$plugins/music-sync-py/music_sync/unicode_tables.py" \
    "$plugins/music-sync-c/src/unicode_tables.h"
