#!/usr/bin/env bash
# Builds every plugin into a WebAssembly component next to its sources:
#   plugins/<name>.wasm          shipped plugins (music-sync, links, template,
#                                and the ports music-sync-js, -py and -c)
#   tests/plugins/<name>.wasm    plugins for the host's integration tests (chaos)
#
# Usage: plugins/build.sh [rust] [js] [python] [c]     (no argument: all four)
#
# Works from any directory. Honours CARGO_TARGET_DIR. One function per guest
# language; each builds its plugins and copies the components into place. The
# non-Rust toolchains are installed by plugins/install-toolchains.sh, which
# this script runs first (it skips what is present, in about a second).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wasm_target=wasm32-wasip2
toolchains=$repo_root/.toolchains

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
        [links]=plugins/links.wasm
        [template]=plugins/template.wasm
        [music-sync]=plugins/music-sync.wasm
        [chaos]=tests/plugins/chaos.wasm
    )
    if ! rustup target list --installed | grep -qx "$wasm_target"; then
        rustup target add "$wasm_target"
    fi

    (cd "$repo_root" && cargo build --profile plugin --target "$wasm_target" -p links -p template -p chaos)
    # music-sync on its own, so that its serde_json keeps its own features
    # (plugins/music-sync/Cargo.toml says why).
    (cd "$repo_root" && cargo build --profile plugin --target "$wasm_target" -p music-sync)

    local crate
    for crate in links template music-sync chaos; do
        local built=$target_dir/$wasm_target/plugin/${crate//-/_}.wasm
        local destination=$repo_root/${destinations[$crate]}
        check_component "$built"
        cp "$built" "$destination"
        report "$destination"
    done

    # A second version of chaos for the hot-reload and limits tests: same
    # name, version 2.0.0, asking for a 300 ms deadline and 16 MiB in
    # describe(), built into its own target folder so the two never rebuild
    # each other.
    (cd "$repo_root" && CHAOS_VERSION=2.0.0 CHAOS_TIMEOUT_MS=300 CHAOS_MEMORY_MB=16 cargo build --profile plugin --target "$wasm_target" \
        -p chaos --target-dir "$target_dir/chaos-v2")
    local built=$target_dir/chaos-v2/$wasm_target/plugin/chaos.wasm
    check_component "$built"
    cp "$built" "$repo_root/tests/plugins/chaos-v2.wasm"
    report "$repo_root/tests/plugins/chaos-v2.wasm"
}

# Move a freshly built component into place, after checking it.
install_component() {
    local built=$1 destination=$2
    check_component "$built"
    mv "$built" "$destination"
    report "$destination"
}

# music-sync in JavaScript, with ComponentizeJS (SpiderMonkey) from
# plugins/music-sync-js/node_modules. It wants an absolute WIT path, and runs
# from the plugin folder so that app.js finds its modules in src/. Built as
# docs/plugins.md and `jobhost new --lang js` advise: clocks, randomness and
# wasi:http off, stdio kept, so that an uncaught exception's message reaches
# the job's error instead of being dropped inside the component.
build_js() {
    local dir=$repo_root/plugins/music-sync-js
    local out=$repo_root/plugins/music-sync-js.wasm
    (cd "$dir" && ./node_modules/.bin/componentize-js app.js --wit "$repo_root/wit" \
        --world-name plugin --disable random clocks http fetch-event -o "$out.tmp")
    install_component "$out.tmp" "$out"
}

# music-sync in Python, with componentize-py (CPython) from the venv in
# .toolchains; it bundles app.py and the music_sync package next to it.
build_python() {
    local dir=$repo_root/plugins/music-sync-py
    local out=$repo_root/plugins/music-sync-py.wasm
    (cd "$dir" && PYTHONDONTWRITEBYTECODE=1 "$toolchains/venv/bin/componentize-py" \
        -d "$repo_root/wit" -w plugin componentize app -o "$out.tmp")
    install_component "$out.tmp" "$out"
}

# music-sync in C: clang and wasi-libc make a core module (a reactor, with the
# bindings wit-bindgen generated in bindings/); wasm-tools embeds the world's
# type from wit/ into it and wraps it into a component. The module imports no
# WASI (the plugin uses no stdio, clock or randomness), so it needs no
# preview1 adapter.
build_c() {
    local dir=$repo_root/plugins/music-sync-c
    local out=$repo_root/plugins/music-sync-c.wasm
    local work=$target_dir/music-sync-c
    local wasm_tools=$toolchains/venv/bin/wasm-tools
    mkdir -p "$work"
    clang-19 --target=wasm32-wasi -mexec-model=reactor -Oz -s -std=c11 -Wall -Wextra \
        -o "$work/core.wasm" "$dir"/src/*.c "$dir/bindings/plugin.c"
    "$wasm_tools" component embed "$repo_root/wit" --world plugin "$work/core.wasm" -o "$work/embedded.wasm"
    "$wasm_tools" component new "$work/embedded.wasm" -o "$out.tmp"
    install_component "$out.tmp" "$out"
}

# Test plugins whose handle() throws (tests/plugins/throw-js, throw-py), for
# tests/all/guest_errors.rs: built as `jobhost new` builds a plugin, so the
# tests see the uncaught exception the way a plugin author's users would.
# Called with a language; one with no such plugin is a no-op.
build_throwers() {
    local dir=$repo_root/tests/plugins
    case $1 in
        js)
            "$repo_root/plugins/music-sync-js/node_modules/.bin/componentize-js" "$dir/throw-js/app.js" \
                --wit "$repo_root/wit" --world-name plugin --disable random clocks http fetch-event \
                -o "$dir/throw-js.wasm.tmp"
            install_component "$dir/throw-js.wasm.tmp" "$dir/throw-js.wasm"
            ;;
        python)
            (cd "$dir/throw-py" && PYTHONDONTWRITEBYTECODE=1 "$toolchains/venv/bin/componentize-py" \
                -d "$repo_root/wit" -w plugin componentize app -o "$dir/throw-py.wasm.tmp")
            install_component "$dir/throw-py.wasm.tmp" "$dir/throw-py.wasm"
            ;;
    esac
}

main() {
    local languages=("$@") language
    ((${#languages[@]} > 0)) || languages=(rust js python c)
    for language in "${languages[@]}"; do
        case $language in
            rust | js | python | c) ;;
            *)
                echo "error: unknown language \`$language\` (expected rust, js, python or c)" >&2
                exit 2
                ;;
        esac
    done
    echo "building plugins in $repo_root"
    if [[ " ${languages[*]} " != " rust " ]]; then
        "$repo_root/plugins/install-toolchains.sh"
    fi
    for language in "${languages[@]}"; do
        local started=$SECONDS
        "build_$language"
        build_throwers "$language"
        echo "  ($language: $((SECONDS - started)) s)"
    done
}

main "$@"
