#!/bin/sh
# `make airgap-check` (as root): `make run` inside a network namespace with no route (only loopback up), under
# `strace -f -e trace=connect`; a health check and a chat request are served, then SIGTERM drains it. Prints every
# connect() that was not to loopback or a Unix socket, and fails if there is one. docs/operations.md#air-gapped-install
set -eu
out="${1:-$(mktemp -d)}"
exec unshare -n sh -eu -c '
out="$1"
ip link set lo up
strace -f -qq -e trace=connect -o "$out/connect.trace" make run ARGS="--port 4999" > "$out/run.log" 2>&1 &
tracer=$!
i=0
until curl -s -o /dev/null http://127.0.0.1:4999/health/ready; do
  i=$((i + 1)); [ "$i" -lt 300 ] || { cat "$out/run.log"; exit 1; }; sleep 0.1
done
curl -sf http://127.0.0.1:4999/v1/chat/completions -H "authorization: Bearer ${WARDGATE_MASTER_KEY:-sk-wardgate-demo}" \
  -H "content-type: application/json" -d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" >/dev/null
make_pid=$(pgrep -P "$tracer" | head -1)
kill -TERM "$(pgrep -P "$make_pid" | head -1)"
wait "$tracer" || true
outside=$(grep "connect(" "$out/connect.trace" | grep -v "AF_UNIX" | grep -v "inet_addr(\"127\." | grep -v "\"::1\"" | grep -v "\"::ffff:127\." || true)
echo "connect() calls: $(grep -c "connect(" "$out/connect.trace" || true); not to loopback or a Unix socket:"
echo "${outside:-  none}"
[ -z "$outside" ]
' sh "$out"
