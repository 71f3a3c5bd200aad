"""CPU per request of the full path with and without telemetry, served for real (issue 15, point 8), for a shared,
noisy machine: throughput there says little, CPU time per request of the worker processes says what telemetry costs.

    # the fake upstream must answer on 127.0.0.1:18080 (bench/harness/fake_upstream/nginx.conf)
    .venv/bin/python bench/otel_cpu.py --seconds 10 --rounds 5
    .venv/bin/python bench/otel_cpu.py --src /tmp/base/src   # the same against another checkout's sources
    .venv/bin/python bench/otel_cpu.py --configs full.yaml full-guards.yaml --harness-prompt --stream  # guards, SSE

It serves bench/full.yaml and bench/full-otel.yaml (each in its own temporary folder and store, ``--workers 2``,
the commands of bench/targets.toml), drives both at once with wrk (c=16 each, chat, the harness's body) for
``--seconds`` after a warm-up, ``--rounds`` times (the machine's noise falls on both alike), and reads utime + stime
of every process of each server from /proc (all their threads) before and after each run. Prints µs CPU
per request for each and the ratio: throughput at a fixed CPU is 1 / that ratio, so ≤ 5 % of throughput is a ratio
≤ 1.053.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
KEY = "sk-wg-bench-0123456789abcdef0123456789abcdef"
PROMPT = [{"role": "user", "content": "Say something short about benchmarks."}]
HARNESS_PROMPT = [  # bench/harness/harness.py: the peer benchmark's body
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "In one sentence, what does benchmarking an HTTP proxy mean?"},
]
LUA = BENCH / "harness" / "wrk" / "post.lua"
TICK = os.sysconf("SC_CLK_TCK")


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


def by_role(root: int) -> dict[str, float]:
    """CPU seconds of a server's processes and threads by role: ``master``, ``loop`` (each worker's main thread, its
    event loop), ``threads`` (the workers' other threads: the store's, a writer's), ``children`` (the workers' own
    child processes, e.g. a ledger writer process). Threads that ended since are missing from both readings."""
    out = dict.fromkeys(("master", "loop", "threads", "children"), 0.0)
    pids = tree(root)
    workers = set()
    for pid in pids:
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if parent == root:
            workers.add(pid)
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            seconds = (int(fields[11]) + int(fields[12])) / TICK
            if pid == root:
                role = "master"
            elif pid in workers:
                role = "loop" if int(tid) == pid else "threads"
            else:
                role = "children"
            out[role] += seconds
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
    def __init__(self, config: str, python: str, src: str | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"otel-cpu-{Path(config).stem}-"))  # the store's folder
        self.port = free_port()
        self.env = dict(os.environ)
        if src:
            self.env["PYTHONPATH"] = src
        wardgate = [python, "-m", "wardgate.cli"]
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


def wrk(url: str, body_file: Path, seconds: float, out: Path, key: str = KEY) -> int:
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file), BENCH_HEADERS=f"Authorization: Bearer {key}")
    env["BENCH_OUT"] = str(out)
    subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", str(LUA), url],
        env=env,
        capture_output=True,
        check=True,
    )
    summary = json.loads(out.read_text())
    errors = sum(int(v) for v in summary.get("errors", {}).values()) + int(summary.get("non2xx", 0))
    if errors:
        raise SystemExit(f"{url}: {errors} errors: {summary}")
    return int(summary["requests"])


def measure(server: Server, body: Path, seconds: float) -> tuple[float, int]:
    pids = tree(server.proc.pid)
    before = cpu_s(pids)
    n = wrk(server.url, body, seconds, server.dir / "wrk.json")
    return cpu_s(pids) - before, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10, help="per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", help="PYTHONPATH for the servers (another checkout's src)")
    parser.add_argument("--b-src", help="PYTHONPATH for the second server only (A/B of two checkouts)")
    parser.add_argument("--configs", nargs=2, default=["full.yaml", "full-otel.yaml"], help="without, with telemetry")
    parser.add_argument("--stream", action="store_true", help="streamed calls (bench-gpt-stream), as the peer run's")
    parser.add_argument("--harness-prompt", action="store_true", help="the peer benchmark's prompt (system + user)")
    parser.add_argument("--roles", action="store_true", help="also µs a request by role (loop thread, other threads …)")
    args = parser.parse_args()
    body = Path(tempfile.mkdtemp()) / "body.json"
    request = {
        "model": "bench-gpt-stream" if args.stream else "bench-gpt",
        "messages": HARNESS_PROMPT if args.harness_prompt else PROMPT,
        "max_tokens": 64,
        "temperature": 0,
    }
    if args.stream:
        request["stream"] = True
    body.write_text(json.dumps(request))
    base, otel = (str(BENCH / c) for c in args.configs)  # relative to bench/, or absolute
    servers = {
        "full": Server(base, sys.executable, args.src),
        "full-otel": Server(otel, sys.executable, args.b_src or args.src),
    }
    try:
        for server in servers.values():
            wrk(server.url, body, 3, server.dir / "wrk.json")  # warm-up
        totals = {name: [0.0, 0] for name in servers}
        ratios = []
        for _ in range(args.rounds):  # both servers at once: the machine's noise falls on both alike
            pids = {name: tree(server.proc.pid) for name, server in servers.items()}
            before = {name: cpu_s(p) for name, p in pids.items()}
            roles_before = {name: by_role(server.proc.pid) for name, server in servers.items()} if args.roles else {}
            with ThreadPoolExecutor(len(servers)) as pool:
                runs = {
                    name: pool.submit(wrk, server.url, body, args.seconds, server.dir / "wrk.json")
                    for name, server in servers.items()
                }
                counts = {name: run.result() for name, run in runs.items()}
            for name, server in servers.items() if args.roles else ():
                after = by_role(server.proc.pid)
                split = {role: (after[role] - roles_before[name][role]) / counts[name] * 1e6 for role in after}
                print(f"  {name} by role (µs a request):", "  ".join(f"{r} {v:.0f}" for r, v in split.items()))
            per_round = {}
            for name in servers:
                cpu = cpu_s(pids[name]) - before[name]
                totals[name][0] += cpu
                totals[name][1] += counts[name]
                per_round[name] = cpu / counts[name] * 1e6
            ratios.append(per_round["full-otel"] / per_round["full"])
            print(
                "  ".join(f"{name}: {counts[name]} req, {per_round[name]:.0f} µs" for name in servers),
                f"ratio {ratios[-1]:.3f}",
                flush=True,
            )
        per = {name: cpu / n * 1e6 for name, (cpu, n) in totals.items()}
        print(
            f"full {per['full']:.0f} µs, full-otel {per['full-otel']:.0f} µs CPU per request: "
            f"ratio {per['full-otel'] / per['full']:.3f} (+{per['full-otel'] - per['full']:.0f} µs); "
            f"median of the rounds' ratios {statistics.median(ratios):.3f}"
        )
    finally:
        for server in servers.values():
            server.close()


if __name__ == "__main__":
    main()
