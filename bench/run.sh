#!/usr/bin/env bash
# `make bench`: Wardgate's own load test (bench/load.py), then the peer
# comparison (bench/harness/run_peers.sh, vendored). See bench/README.md.
#
#   bash bench/run.sh [--no-peers] [--no-load] [load.py options...]
#
# Options of this script (the others go to bench/load.py; `--help` shows them):
#   --no-peers   skip the peer comparison (also BENCH_PEERS=0)
#   --no-load    skip bench/load.py (also BENCH_LOAD=0)
# Environment:
#   BENCH_PEER_ARGS   the peer comparison's options (default: our extra targets, --targets direct,portkey,
#                     litellm-2w,floor-aiohttp,floor-uvicorn-aiohttp,wardgate --conc 1,16
#                     --repeats 2 --duration 8)
#   BENCH_NETNS=0     run load.py in the host's network namespace (default: a fresh one
#                     with only loopback when `unshare -n` is permitted; traffic goes to
#                     127.0.0.1 only either way)
#   BENCH_HARNESS     the peer harness (default: <repo>/bench/harness)
#   WARDGATE_BIN      the wardgate executable for the peer run (default .venv/bin/wardgate)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="${BENCH_HARNESS:-$ROOT/bench/harness}"
export BENCH_HARNESS="$HARNESS"
cd "$ROOT"

PEERS="${BENCH_PEERS:-1}"
LOAD="${BENCH_LOAD:-1}"
# bench/targets.toml adds wardgate-full (virtual key, budget, rate limit, ledger); the cost of each stage on top of
# it: wardgate-full-guards (default guards), wardgate-full-otel (tracing and metrics), wardgate-full-prompt (a
# managed prompt on every request); and wardgate-full-redis (budgets and limits on Redis; needs BENCH_NETNS=0 to
# reach the machine's Redis, so it is not in the default list)
DEFAULT_PEER_ARGS="--config $HARNESS/targets.toml --config $ROOT/bench/targets.toml --targets direct,portkey,litellm-2w,floor-aiohttp,floor-uvicorn-aiohttp,wardgate,wardgate-full,wardgate-full-guards,wardgate-full-otel,wardgate-full-prompt --conc 1,16 --repeats 2 --duration 8"
export WARDGATE_BENCH_DIR="$ROOT/bench"
PEER_ARGS="${BENCH_PEER_ARGS:-$DEFAULT_PEER_ARGS}"
load_args=()
for arg in "$@"; do
  case "$arg" in
    --no-peers) PEERS=0 ;;
    --no-load) LOAD=0 ;;
    -h|--help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
      echo; echo "bench/load.py options:"
      exec python3 "$ROOT/bench/load.py" --help ;;
    *) load_args+=("$arg") ;;
  esac
done

say() { printf '[bench] %s\n' "$*" >&2; }

[ -f "$HARNESS/run_peers.sh" ] || { say "no benchmark harness at $HARNESS (set BENCH_HARNESS)"; exit 2; }

# ---------------------------------------------------------------- tools
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    say "missing: ${need[*]}; install them (apt-get install -y ${need[*]}) or run as root"
    exit 2
  fi
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
ulimit -n 65536 2>/dev/null || true

# ---------------------------------------------------------------- our load test
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"
# A wheel install ships compiled bytecode; the editable install here compiles src/ at its first import, and at every
# import where PYTHONDONTWRITEBYTECODE is set (as on the bench host): each worker's cold start would pay ~0.8 s of
# CPU for it. Compile once, as pip does for a wheel (compileall writes the cache whatever that variable says).
"$PY" -m compileall -q "$ROOT/src" >/dev/null
if [ "$LOAD" = 1 ]; then
  say "load test: bench/load.py ${load_args[*]:-}"
  if [ "${BENCH_NETNS:-1}" = 1 ] && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
    unshare -n -- bash -c 'ip link set lo up && exec "$0" "$@"' "$PY" "$ROOT/bench/load.py" ${load_args[@]+"${load_args[@]}"}
  else
    say "no network namespace (BENCH_NETNS=0, or unshare/ip missing or not permitted): host loopback"
    "$PY" "$ROOT/bench/load.py" ${load_args[@]+"${load_args[@]}"}
  fi
fi

# ---------------------------------------------------------------- peer comparison
if [ "$PEERS" = 1 ]; then
  say "peer comparison: run_peers.sh $PEER_ARGS"
  # shellcheck disable=SC2086  # PEER_ARGS is a list of options on purpose
  WARDGATE_BIN="${WARDGATE_BIN:-$ROOT/.venv/bin/wardgate}" bash "$HARNESS/run_peers.sh" $PEER_ARGS
fi
