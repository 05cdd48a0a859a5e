#!/usr/bin/env bash
# Builds every plugin into a WebAssembly component next to its sources:
#   plugins/<name>.wasm          shipped plugins (music-sync, links, template)
#   tests/plugins/<name>.wasm    plugins for the host's integration tests (chaos)
# Works from any directory. Honours CARGO_TARGET_DIR. One function per guest
# language; each builds its plugins and copies the components into place.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wasm_target=wasm32-wasip2

# Cargo reads CARGO_TARGET_DIR relative to where it runs (the repository root,
# below); make a relative one mean "relative to where this script was called".
if [[ -n ${CARGO_TARGET_DIR:-} && $CARGO_TARGET_DIR != /* ]]; then
    CARGO_TARGET_DIR=$PWD/$CARGO_TARGET_DIR
fi
if [[ -n ${CARGO_TARGET_DIR:-} ]]; then
    export CARGO_TARGET_DIR
fi
target_dir=${CARGO_TARGET_DIR:-$repo_root/target}

# Print "<size> <path>" for a written component.
report() {
    local path=$1
    printf '  %8s bytes  %s\n' "$(wc -c < "$path" | tr -d ' ')" "${path#"$repo_root"/}"
}

# Fail unless $1 starts with the component-model preamble (version 0x0d,
# layer 1), rather than a core module.
check_component() {
    local header
    header=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
    if [[ $header != 0061736d0d000100 ]]; then
        echo "error: $1 is not a WebAssembly component (header $header)" >&2
        exit 1
    fi
}

build_rust() {
    # crate name -> destination, relative to the repository root.
    local -A destinations=(
        [music-sync]=plugins/music-sync.wasm
        [links]=plugins/links.wasm
        [template]=plugins/template.wasm
        [chaos]=tests/plugins/chaos.wasm
    )
    if ! rustup target list --installed | grep -qx "$wasm_target"; then
        rustup target add "$wasm_target"
    fi

    local crate packages=()
    for crate in "${!destinations[@]}"; do
        packages+=(-p "$crate")
    done
    (cd "$repo_root" && cargo build --profile plugin --target "$wasm_target" "${packages[@]}")

    for crate in music-sync links template chaos; do
        local built=$target_dir/$wasm_target/plugin/${crate//-/_}.wasm
        local destination=$repo_root/${destinations[$crate]}
        check_component "$built"
        cp "$built" "$destination"
        report "$destination"
    done
}

main() {
    echo "building plugins in $repo_root"
    build_rust
    # Other guest languages get a build_<language> function above, called here.
}

main "$@"
