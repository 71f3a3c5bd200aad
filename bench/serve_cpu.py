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
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
KEY = "sk-wg-bench-0123456789abcdef0123456789abcdef"
MASTER = "sk-bench-master-key"
PROMPT = [  # bench/harness/harness.py
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "In one sentence, what does benchmarking an HTTP proxy mean?"},
]
LUA = BENCH / "harness" / "wrk" / "post.lua"
TICK = os.sysconf("SC_CLK_TCK")
CASES = {  # name: (config, key, model, stream)
    "master chat": ("config.yaml", MASTER, "bench-gpt", False),
    "full chat": ("full.yaml", KEY, "bench-gpt", False),
    "full stream": ("full.yaml", KEY, "bench-gpt-stream", True),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree(root: int) -> list[int]:
    """``root`` and its descendants (the server's master and workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks, all threads)
    return total / TICK


class Server:
    def __init__(self, config: str, src: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"serve-cpu-{Path(config).stem}-"))  # the store's folder
        self.port = free_port()
        self.env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
        wardgate = [sys.executable, "-m", "wardgate.cli"]
        conf = ["--config", config]
        for args in (["db", "upgrade"], ["projects", "create", "bench"], ["keys", "create", "--project", "bench"]):
            extra = ["--key", KEY] if args[0] == "keys" else []
            subprocess.run([*wardgate, *args, *extra, *conf], cwd=self.dir, env=self.env, capture_output=True)
        serve = ["serve", *conf, "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"]
        self.proc = subprocess.Popen(
            [*wardgate, *serve], cwd=self.dir, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(url: str, key: str, body_file: Path, seconds: float, out: Path) -> int:
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file), BENCH_HEADERS=f"Authorization: Bearer {key}")
    env["BENCH_OUT"] = str(out)
    subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", str(LUA), url],
        env=env,
        capture_output=True,
        check=True,
    )
    summary = json.loads(out.read_text())
    errors = sum(int(v) for v in summary.get("errors", {}).values())
    if errors:
        raise SystemExit(f"{url}: {errors} errors: {summary}")
    return int(summary["requests"])


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
    servers = {(src, c): Server(str(BENCH / c), src) for src in args.src for c in configs}
    results: dict[tuple[str, str], list[float]] = {(src, name): [] for src in args.src for name in cases}
    try:
        for name in cases:  # warm-up
            for src in args.src:
                server = servers[(src, CASES[name][0])]
                wrk(server.url, CASES[name][1], bodies[name], 2, work / "wrk.json")
        for r in range(args.rounds):
            order = args.src if r % 2 == 0 else list(reversed(args.src))
            for name in cases:
                line = []
                for src in order:
                    server = servers[(src, CASES[name][0])]
                    pids = tree(server.proc.pid)
                    before = cpu_s(pids)
                    n = wrk(server.url, CASES[name][1], bodies[name], args.seconds, work / "wrk.json")
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
