"""Instructions per request of one Wardgate worker (callgrind's Ir), for changes smaller than served CPU can resolve on
a shared host (bench/otel_cpu.py's A/A rounds spread ±4 % there; this repeats to ~±1 %). Decision 066.

    # the fake upstream must answer where CONFIG points (bench/harness/fake_upstream/nginx.conf)
    .venv/bin/python bench/otel_instructions.py bench/full.yaml
    .venv/bin/python bench/otel_instructions.py bench/full-otel.yaml --src /tmp/base/src --requests 1500

Serves CONFIG with ``--workers 1`` (the server runs in the CLI's process) under ``valgrind --tool=callgrind
--instr-atstart=no``, warms it up with 300 chat requests on one keep-alive connection, switches collection on
(``callgrind_control -i on``), sends ``--requests`` more one after another, waits 1.5 s (a span batch leaves within
1 s: its POST is counted), dumps, and prints the instructions per request. Everything the worker runs is counted:
its threads, GC, timers, the span and metric exports. Not counted: the kernel, and cycles (an instruction that
misses the caches counts once). Under valgrind the worker serves ~100 requests/s, so work done per second (the span
export's POST, the ledger's flush) weighs more per request than at full load. Takes ~1 minute.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from otel_cpu import HARNESS_PROMPT, KEY


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--src", help="PYTHONPATH for the server (another checkout's src)")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    config = str(Path(args.config).resolve())
    folder = Path(tempfile.mkdtemp(prefix="otel-instructions-"))
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = args.src
    wardgate = [sys.executable, "-m", "wardgate.cli"]
    for extra in (["db", "upgrade"], ["projects", "create", "bench"], ["keys", "create", "--project", "bench"]):
        key = ["--key", KEY] if extra[0] == "keys" else []
        subprocess.run([*wardgate, *extra, *key, "--config", config], cwd=folder, env=env, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--instr-atstart=no"]
    valgrind.append(f"--callgrind-out-file={folder}/callgrind.%p")
    serve = ["serve", "--config", config, "--port", str(port), "--workers", "1", "--log-level", "warning"]
    with open(folder / "valgrind.log", "w") as log:
        server = subprocess.Popen([*valgrind, *wardgate, *serve], cwd=folder, env=env, stdout=log, stderr=log)
    try:
        for _ in range(3000):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        model = "bench-gpt-stream" if args.stream else "bench-gpt"
        body = json.dumps(
            {"model": model, "stream": args.stream, "messages": HARNESS_PROMPT, "max_tokens": 64, "temperature": 0}
        )
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

        def send(n: int) -> None:
            for _ in range(n):
                conn.request("POST", "/v1/chat/completions", body, headers)
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    raise SystemExit(f"{response.status}: {data[:300]!r}")

        send(300)
        time.sleep(2)
        subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], capture_output=True, check=True)
        send(args.requests)
        time.sleep(1.5)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], capture_output=True, check=True)
    finally:
        server.terminate()
        server.wait(120)
    total = 0
    for dump in folder.glob("callgrind.*.*"):  # the dump of the measured window (callgrind.PID.N)
        found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
        if found:
            total += int(found[1])
    print(f"{Path(config).name}: {total / args.requests:,.0f} instructions a request ({folder})")


if __name__ == "__main__":
    main()
