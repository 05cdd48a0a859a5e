#!/usr/bin/env bash
# Builds bench/plugins/trivial-js.wasm and trivial-py.wasm (item 13's
# dispatch figure) with the toolchains plugins/build.sh uses and the same
# flags as the music-sync ports: ComponentizeJS from
# plugins/music-sync-js/node_modules, componentize-py from .toolchains/venv
# (plugins/install-toolchains.sh installs both). Works from any directory.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo_root/bench/plugins
componentize_js=$repo_root/plugins/music-sync-js/node_modules/.bin/componentize-js
componentize_py=$repo_root/.toolchains/venv/bin/componentize-py
for tool in "$componentize_js" "$componentize_py"; do
    if [[ ! -x $tool ]]; then
        echo "error: $tool is missing: run plugins/install-toolchains.sh first" >&2
        exit 1
    fi
done

(cd "$here/trivial-js" && "$componentize_js" app.js --wit "$repo_root/wit" \
    --world-name plugin --disable random clocks http fetch-event -o "$here/trivial-js.wasm")
(cd "$here/trivial-py" && PYTHONDONTWRITEBYTECODE=1 "$componentize_py" \
    -d "$repo_root/wit" -w plugin componentize app -o "$here/trivial-py.wasm")
for name in trivial-js trivial-py; do
    printf '  %8s bytes  bench/plugins/%s.wasm\n' "$(wc -c < "$here/$name.wasm")" "$name"
done
