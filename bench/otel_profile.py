"""Where the CPU that telemetry adds goes, served for real (issue 15, point 8): two servers (bench/full.yaml and
bench/full-otel.yaml, ``--workers 2``, as bench/otel_cpu.py), both driven by wrk at once, each profiled by py-spy
(``--native``, every worker) while its CPU per request is read per thread from /proc. Prints, per function, the µs of
CPU per request in each server (inclusive and self) and the difference, largest first; and each thread's µs per
request.

    .venv/bin/python bench/otel_profile.py --seconds 20 --rate 250 --top 60
    .venv/bin/python bench/otel_profile.py --configs full.yaml full.yaml   # A/A: what the instrument alone shows

py-spy samples a thread when it is running (not idle), so a function's figure is "samples × 1/rate / requests"; the
sampler's own pauses perturb both servers alike. The fake upstream must answer on 127.0.0.1:18080.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from otel_cpu import BENCH, PROMPT, TICK, Server, tree, wrk  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """Seconds of CPU of ``pids``: their main threads (the event loops) and their other threads, summed."""
    out: dict[str, float] = collections.defaultdict(float)
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                raw = (task / "stat").read_text()
            except OSError:
                continue
            fields = raw.rsplit(")", 1)[1].split()
            thread = "main" if task.name == str(pid) else "other threads"
            out[f"{thread} user"] += int(fields[11]) / TICK
            out[f"{thread} sys"] += int(fields[12]) / TICK
    return out


IDLE = ("epoll_pwait", "epoll_wait", "sem_wait", "sem_clockwait", "pthread_cond_timedwait", "pthread_cond_wait")


def frame_name(frame: str) -> str:
    """``func (file.py:line)`` → ``func (file.py)``: one entry per function, whatever line was running; an address
    (a symbol py-spy could not name) → its library."""
    if frame.startswith("0x") and " (" in frame:
        return "?" + frame.split(" ", 1)[1]
    if " (" in frame and frame.endswith(")"):
        func, where = frame[:-1].split(" (", 1)
        return f"{func} ({where.rsplit(':', 1)[0]})"
    return frame


def aggregate(raw: Path) -> tuple[dict[str, int], dict[str, int], int]:
    inclusive: dict[str, int] = collections.Counter()
    own: dict[str, int] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if not f.startswith(("process ", "thread ", " spawn_main"))]
        if not frames or any(frames[-1].startswith(idle) for idle in IDLE):
            continue
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    return inclusive, own, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--src", help="PYTHONPATH for the servers (another checkout's src)")
    parser.add_argument("--configs", nargs=2, default=["full.yaml", "full-otel.yaml"])
    parser.add_argument("--no-native", action="store_true")
    parser.add_argument("--perf", action="store_true", help="perf record -g instead of py-spy (then perf report)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--b-src", help="PYTHONPATH for the second server only (A/B of two checkouts)")
    parser.add_argument("--b-env", nargs="*", default=[], help="KEY=VALUE for the second server only")
    parser.add_argument("--out", help="keep the raw profiles in this folder")
    args = parser.parse_args()
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    body = work / "body.json"
    body.write_text(json.dumps({"model": "bench-gpt", "messages": PROMPT, "max_tokens": 64, "temperature": 0}))
    names = ("a", "b")
    servers = {}
    for n, c in zip(names, args.configs, strict=True):
        if n == "b":
            os.environ.update(v.split("=", 1) for v in args.b_env)  # type: ignore[misc]
        servers[n] = Server(str(BENCH / c), sys.executable, args.b_src if n == "b" and args.b_src else args.src)
    try:
        for server in servers.values():
            wrk(server.url, body, 3, server.dir / "wrk.json")  # warm-up
        pids = {n: tree(s.proc.pid) for n, s in servers.items()}
        spies = {}
        for n, server in servers.items():
            if not args.rate:
                continue
            if args.perf:
                cmd = ["perf", "record", "-q", "-F", str(args.rate), "-o", str(work / f"{n}.perf")]
                cmd += ["-p", ",".join(str(p) for p in pids[n])]
            else:
                cmd = [str(PY_SPY), "record", "-r", str(args.rate), "--subprocesses", "--format", "raw", "--threads"]
                cmd += ["-o", str(work / f"{n}.raw"), "-p", str(server.proc.pid)]
                cmd += [] if args.no_native else ["--native"]
            spies[n] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        counts = dict.fromkeys(names, 0)
        cpu: dict[str, dict[str, float]] = {n: collections.defaultdict(float) for n in names}
        for _ in range(args.rounds):
            before = {n: thread_cpu(p) for n, p in pids.items()}
            with ThreadPoolExecutor(2) as pool:
                runs = {n: pool.submit(wrk, s.url, body, args.seconds, s.dir / "wrk.json") for n, s in servers.items()}
                done = {n: r.result() for n, r in runs.items()}
            after = {n: thread_cpu(p) for n, p in pids.items()}
            line = []
            for n in names:
                counts[n] += done[n]
                for t in after[n]:
                    cpu[n][t] += after[n][t] - before[n].get(t, 0.0)
                line.append(f"{n}: {done[n]} req {sum(after[n].values()) - sum(before[n].values()):.2f} s")
            print("  ".join(line), flush=True)
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)
            spy.wait(120)
    finally:
        for server in servers.values():
            server.close()
    print(f"requests: {counts}  configs: {args.configs}")
    for n in names:
        per = {t: v / counts[n] * 1e6 for t, v in cpu[n].items()}
        shown = ", ".join(f"{t} {v:.1f}" for t, v in sorted(per.items()))
        print(f"{n} µs CPU/request: total {sum(per.values()):.1f}: {shown}")
    if not args.rate or args.perf:
        return
    scale = {n: 1e6 / args.rate / counts[n] for n in names}  # samples → µs per request
    profiles = {n: aggregate(work / f"{n}.raw") for n in names}
    for n in names:
        print(f"{n}: py-spy samples {profiles[n][2]} = {profiles[n][2] * scale[n]:.0f} µs/request")
    for label, index in (("inclusive", 0), ("self", 1)):
        a, b = profiles["a"][index], profiles["b"][index]
        rows = [(k, a.get(k, 0) * scale["a"], b.get(k, 0) * scale["b"]) for k in set(a) | set(b)]
        rows.sort(key=lambda r: -abs(r[2] - r[1]))
        print(f"\n{label}: µs/request  a  b  b-a  (largest differences)")
        for k, x, y in rows[: args.top]:
            print(f"{x:8.1f} {y:8.1f} {y - x:+8.1f}  {k[:150]}")


if __name__ == "__main__":
    main()
