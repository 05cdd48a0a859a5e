#!/usr/bin/env bash
# The jobhost benchmark suite, in one command:
#
#   bench/run.sh [--quick] [--only ITEMS] [--no-build] [--no-ports | --with-ports]
#
# 1. installs what is missing: nginx-light, wrk, redis-server (apt, as root),
#    a Python venv in bench/.venv with aiohttp, redis, matplotlib and asyncpg
#    (PyPI; asyncpg for item 10, which also needs a PostgreSQL server on
#    127.0.0.1:5432 with trust authentication for the user root, or the
#    server that BENCH_PG_URL names: see bench/bench.py); item 14 needs a
#    RabbitMQ broker on 127.0.0.1:5672 (guest/guest) and rabbitmqctl, or
#    the broker BENCH_AMQP_URL names (the suite does not install one);
# 2. builds target/release/jobhost (`cargo build --release -p jobhost` in the
#    root workspace) and target/release/jobhost-bench (bench/ is its own
#    workspace; it shares the root's target dir (CARGO_TARGET_DIR if set)
#    and lock file, so wasmtime
#    is compiled once), the Rust plugins (`plugins/build.sh rust`: the
#    examples, and tests/plugins/chaos.wasm that item 9 uses), and the C, JavaScript and Python ports
#    of music-sync for item 1 if any is absent (`plugins/build.sh c js
#    python`, which installs their toolchains: a few minutes the first time);
# 3. runs bench/bench.py, which starts nginx and Redis on free loopback ports,
#    runs every item, writes bench/results/latest.json, the plot
#    bench/results/concurrency.png and BENCHMARKS.md, and stops its fixtures.
#
# --quick     about 10x smaller counts (a smoke run; numbers are noisy)
# --only L    comma-separated items (1..14, sweep); the others keep their last results
# --no-build  use the binaries already in target/release
# --no-ports    do not build the ports; item 1 then skips the ones absent
# --with-ports  rebuild the ports even if their .wasm files exist
#
# Idempotent: run it as often as you like.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
cd "$ROOT"

build=1
ports=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --with-ports) ports=2 ;;
    --no-ports) ports=0 ;;
    --quick) args+=("--quick") ;;
    --only) args+=("--only" "$2"); shift ;;
    --only=*) args+=("--only" "${1#--only=}") ;;
    -h|--help) sed -n '2,28p' "$BENCH/run.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "bench/run.sh: $*" >&2; }

# --- 1. system packages ------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "need root (or sudo) to apt-get install ${missing[*]}"; exit 1; }
    sudo="sudo"
  fi
  # Keep the packages' own services (nginx on :80, redis on :6379) from
  # starting: the suite runs its own on free ports.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  cleanup_policy() { [ "$created_policy" = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d; return 0; }
  trap cleanup_policy EXIT
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  cleanup_policy
  trap - EXIT
fi
export PATH="$PATH:/usr/sbin:/sbin"

# --- 2. Python venv ------------------------------------------------------------
VENV="$BENCH/.venv"
if [ -d "$VENV" ] && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  say "$VENV is broken (no working python or pip): recreating it"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import aiohttp, redis, matplotlib, asyncpg' >/dev/null 2>&1; then
  say "installing aiohttp, redis, matplotlib, asyncpg into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check aiohttp redis matplotlib asyncpg
fi

# --- 3. builds -------------------------------------------------------------------
if [ "$build" = 1 ]; then
  command -v cargo >/dev/null 2>&1 || { say "cargo not found: install Rust with rustup first"; exit 1; }
  # Always: cargo makes it a few seconds when nothing changed, and item 9
  # needs the current tests/plugins/chaos.wasm (its `stamp` action).
  say "building the Rust plugins (plugins/build.sh rust)"
  plugins/build.sh rust
  say "building music-sync's lean build for the queue items (bench/plugins/build-lean.sh)"
  bench/plugins/build-lean.sh
  if [ "$ports" = 2 ] || { [ "$ports" = 1 ] && { [ ! -f plugins/music-sync-c.wasm ] ||
      [ ! -f plugins/music-sync-js.wasm ] || [ ! -f plugins/music-sync-py.wasm ]; }; }; then
    say "building the ports of music-sync (plugins/build.sh c js python)"
    plugins/build.sh c js python
  fi
  if [ "$ports" != 0 ] && { [ ! -f bench/plugins/trivial-js.wasm ] || [ ! -f bench/plugins/trivial-py.wasm ] ||
      [ "$ports" = 2 ]; }; then
    say "building the trivial JavaScript and Python plugins for item 13 (bench/plugins/build-trivial.sh)"
    bench/plugins/build-trivial.sh
  fi
  say "cargo build --release -p jobhost"
  cargo build --release -p jobhost
  # The bench package resolves against a copy of the root's lock file, so it
  # gets the very same dependency versions (and reuses their build).
  cp Cargo.lock "$BENCH/Cargo.lock"
  target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
  say "cargo build --release (bench/, target dir $target_dir)"
  CARGO_TARGET_DIR="$target_dir" cargo build --release --manifest-path "$BENCH/Cargo.toml"
fi

# --- 4. run --------------------------------------------------------------------------
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "running the suite ${args[*]:-}"
exec "$VENV/bin/python" "$BENCH/bench.py" "${args[@]}"
