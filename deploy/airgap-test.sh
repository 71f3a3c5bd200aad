#!/bin/sh
# `make airgap-test` (as root; the whole suite): `make test` inside a network namespace with no route (only loopback
# up), under `strace -f -e trace=connect`. PostgreSQL and Redis on the host are out of reach there, so their tests
# skip (as on a laptop without them; CI=true would make them fail). Prints the suite's summary and every connect()
# that was not to loopback or a Unix socket, and fails if the suite fails or there is one.
set -eu
out="${1:-$(mktemp -d)}"
echo "logs in $out"
exec unshare -n sh -eu -c '
out="$1"
ip link set lo up
status=0
strace -f -qq --seccomp-bpf -e trace=connect -o "$out/connect.trace" \
  make test ARGS="-q -p no:cacheprovider" > "$out/test.log" 2>&1 || status=$?
tail -3 "$out/test.log"
outside=$(grep "connect(" "$out/connect.trace" | grep -v "AF_UNIX" | grep -v "127.0.0.1" | grep -v "::1" || true)
echo "connect() calls: $(grep -c "connect(" "$out/connect.trace" || true); not to loopback or a Unix socket:"
echo "${outside:-  none}" | head -20
[ "$status" -eq 0 ] && [ -z "$outside" ]
' sh "$out"
