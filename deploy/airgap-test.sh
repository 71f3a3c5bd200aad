#!/bin/sh
# `make airgap-test` (as root; the whole suite): `make test` inside a network namespace with no route (only loopback
# up), under `strace -f -e trace=connect`. PostgreSQL and Redis on the host are out of reach there, so their tests
# skip (as on a laptop without them; CI=true would make them fail). Prints the suite's summary and every connect()
# that was not to loopback or a Unix socket, each with the command line of the process that made it (execve and
# clone are traced too, to name it), and fails if the suite fails or there is one.
set -eu
out="${1:-$(mktemp -d)}"
echo "logs in $out"
exec unshare -n sh -eu -c '
out="$1"
ip link set lo up
status=0
strace -f -qq --seccomp-bpf -e trace=connect,execve,clone,clone3,fork,vfork -o "$out/connect.trace" \
  make test ARGS="-q -p no:cacheprovider" > "$out/test.log" 2>&1 || status=$?
tail -3 "$out/test.log"
outside=$(grep -E "^[0-9]+ connect\(" "$out/connect.trace" | grep -v "AF_UNIX" | grep -v "inet_addr(\"127\." | grep -v "\"::1\"" | grep -v "\"::ffff:127\." || true)
echo "connect() calls: $(grep -cE "^[0-9]+ connect\(" "$out/connect.trace" || true); not to loopback or a Unix socket:"
echo "${outside:-  none}" | head -20
if [ -n "$outside" ]; then
  echo "by process (count, command line):"
  awk '"'"'
    / (clone|clone3|fork|vfork)\(/ || /<\.\.\. (clone|clone3|fork|vfork) resumed>/ {
      if (match($0, /= [0-9]+$/)) parent[substr($0, RSTART + 2)] = $1
    }
    / execve\("/ { line = $0; sub(/^[0-9]+ execve\("[^"]*", \[/, "", line); sub(/\], .*/, "", line); argv[$1] = line }
    (/ execve\("/ || /<\.\.\. execve resumed>/) && / = 0$/ { cmd[$1] = argv[$1] }
    $2 ~ /^connect\(/ && !/AF_UNIX/ && !/inet_addr\("127\./ && !/"::1"/ && !/"::ffff:127\./ {
      p = $1; while (p != "" && !(p in cmd)) p = parent[p]
      seen[(p in cmd) ? substr(cmd[p], 1, 160) : "(unnamed: started before the trace)"]++
    }
    END { for (c in seen) printf "  %d  %s\n", seen[c], c }
  '"'"' "$out/connect.trace" | sort -rn | head -10
fi
[ "$status" -eq 0 ] && [ -z "$outside" ]
' sh "$out"
