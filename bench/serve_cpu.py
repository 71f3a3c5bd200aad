"""CPU per request of the serving path, served for real, two source trees A/B interleaved (issue 13: "≤ 0.4 ms CPU
per request on the full path"), for a shared, noisy machine where throughput says little but the server processes'
CPU time per request says what the code costs.

    # the fake upstream must answer on 127.0.0.1:18080 (bench/harness/fake_upstream/nginx.conf)
    .venv/bin/python bench/serve_cpu.py --src /tmp/base/src --src src --seconds 6 --rounds 5

For each ``--src`` (a PYTHONPATH; the first is "A") it serves bench/config.yaml (master key) and bench/full.yaml
(virtual key, budget, rate limit in-process, ledger on SQLite), each in its own temporary folder with the commands of
bench/targets.toml and ``--workers 2``. Each round runs every case (master chat, full chat, full stream) on every tree,
one wrk at a time (c=16, the harness's bodies), the trees' order flipped every round so the machine's drift falls on
both alike, and reads utime + stime of every process of the server from /proc before and after. Prints µs CPU per
request per round and the medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from otel_cpu import KEY, Server, cpu_s, tree, wrk  # the same servers, /proc readings and wrk runs

BENCH = Path(__file__).resolve().parent
MASTER = "sk-bench-master-key"
PROMPT = [  # bench/harness/harness.py
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "In one sentence, what does benchmarking an HTTP proxy mean?"},
]
CASES = {  # name: (config, key, model, stream)
    "master chat": ("config.yaml", MASTER, "bench-gpt", False),
    "full chat": ("full.yaml", KEY, "bench-gpt", False),
    "full stream": ("full.yaml", KEY, "bench-gpt-stream", True),
    "guards chat": ("full-guards.yaml", KEY, "bench-gpt", False),  # issue 14: the default guards on the full path
    "guards stream": ("full-guards.yaml", KEY, "bench-gpt-stream", True),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", action="append", required=True, help="a PYTHONPATH (repeat: A, B, ...)")
    parser.add_argument("--seconds", type=float, default=6, help="per measured run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--case", action="append", choices=list(CASES), help="default: every case")
    args = parser.parse_args()
    cases = args.case or list(CASES)
    work = Path(tempfile.mkdtemp(prefix="serve-cpu-"))
    bodies = {}
    for name in cases:
        _, _, model, stream = CASES[name]
        body: dict[str, object] = {"model": model, "messages": PROMPT, "max_tokens": 64, "temperature": 0}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        bodies[name] = work / f"{name.replace(' ', '-')}.json"
        bodies[name].write_text(json.dumps(body))
    configs = sorted({CASES[name][0] for name in cases})
    servers = {
        (src, c): Server(str(BENCH / c), sys.executable, str(Path(src).resolve())) for src in args.src for c in configs
    }
    results: dict[tuple[str, str], list[float]] = {(src, name): [] for src in args.src for name in cases}
    try:
        for name in cases:  # warm-up
            for src in args.src:
                server = servers[(src, CASES[name][0])]
                wrk(server.url, bodies[name], 2, work / "wrk.json", CASES[name][1])
        for r in range(args.rounds):
            order = args.src if r % 2 == 0 else list(reversed(args.src))
            for name in cases:
                line = []
                for src in order:
                    server = servers[(src, CASES[name][0])]
                    pids = tree(server.proc.pid)
                    before = cpu_s(pids)
                    n = wrk(server.url, bodies[name], args.seconds, work / "wrk.json", CASES[name][1])
                    us = (cpu_s(pids) - before) / n * 1e6
                    results[(src, name)].append(us)
                    line.append(f"{src}: {n / args.seconds:.0f} rps {us:.0f} µs")
                print(f"round {r + 1} {name}: " + "  ".join(line), flush=True)
        print("medians, µs CPU per request (server process tree):")
        for name in cases:
            print(f"  {name}: " + "  ".join(f"{src} {statistics.median(results[(src, name)]):.0f}" for src in args.src))
    finally:
        for server in servers.values():
            server.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
