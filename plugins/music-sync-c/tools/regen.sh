#!/usr/bin/env bash
# Regenerates the C bindings of music-sync-c, plugins/music-sync-c/bindings/
# plugin.c and plugin.h, with `wit-bindgen c` from wit/. They are kept in the
# repository so that building needs no generator; run this after changing
# wit/. wit-bindgen-cli is built once (C backend only, a few minutes on 2
# cores) into .toolchains/wit-bindgen. Works from any directory.
#
# `--no-object-file`: wit-bindgen would also write plugin_component_type.o, a
# binary holding the world's type; plugins/build.sh embeds that type from
# wit/ with `wasm-tools component embed` instead.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
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
"$wit_bindgen" c "$repo_root/wit" --world plugin --no-object-file \
    --out-dir "$repo_root/plugins/music-sync-c/bindings"
