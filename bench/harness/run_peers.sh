#!/usr/bin/env bash
# Gateway benchmark from scratch: install what is missing, then measure the
# targets of targets.toml inside a fresh network namespace that has only
# loopback (so no gateway can phone home), and stop everything it started.
# Works from any directory: every path is taken relative to this script.
# Results: ./bench-results/run-<UTC time>.{json,md} in the directory you run it
# from (or BENCH_RESULTS_DIR / --out-dir). Arguments go to harness.py, e.g.
#   bash bench/harness/run_peers.sh --quick
#   WARDGATE_BIN=$PWD/.venv/bin/wardgate bash bench/harness/run_peers.sh --targets direct,litellm-2w,portkey,wardgate
#   bash bench/harness/run_peers.sh --help          (harness options; installs nothing)
# Env: BENCH_PEERS_DIR (default /tmp/bench-peers), BENCH_NETNS=0 to stay in the
# host network namespace (traffic still goes to 127.0.0.1 only), SKIP_INSTALL=1,
# WARDGATE_BIN (the wardgate executable; else `wardgate` on the PATH; else the
# wardgate target is skipped).
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BENCH_PEERS_DIR="${BENCH_PEERS_DIR:-/tmp/bench-peers}"
export BENCH_RESULTS_DIR="${BENCH_RESULTS_DIR:-$PWD/bench-results}"

for arg in "$@"; do  # listing or help: no install, no namespace
  case "$arg" in -h|--help|--list) exec python3 "$BENCH/harness.py" "$@" ;; esac
done

[ "${SKIP_INSTALL:-0}" = 1 ] || bash "$BENCH/install_peers.sh"

ulimit -n 65536 2>/dev/null || true
if [ "${BENCH_NETNS:-1}" = 1 ] && unshare -n true 2>/dev/null; then
  exec unshare -n -- bash -c 'ip link set lo up && exec python3 "$0"/harness.py "${@}"' "$BENCH" "$@"
else
  echo "[run] no network namespace (BENCH_NETNS=0 or unshare not permitted): host loopback" >&2
  exec python3 "$BENCH/harness.py" "$@"
fi
