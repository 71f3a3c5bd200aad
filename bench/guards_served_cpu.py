"""The guards stage's CPU per request inside served workers (issue 14, point 5), two source trees A/B: the servers'
own CPU per request says too little on a shared machine (its rounds spread by more than the guards cost), and a
micro-benchmark too little about a server, where the guards run cache-cold (bench/RESULTS.md, 2026-12-07, branch
i14d: the same code costs 2-3x as much with a walk over a large heap between calls).

    # the fake upstream must answer on 127.0.0.1:18080 (bench/harness/fake_upstream/nginx.conf)
    .venv/bin/python bench/guards_served_cpu.py /tmp/base/src src                # chat, bench/full-guards.yaml
    .venv/bin/python bench/guards_served_cpu.py /tmp/base/src src --stream --rounds 5

Each tree is copied to a temporary folder and its ``GuardsStage.before``, ``after`` and ``on_chunk`` are wrapped to
add up the worker thread's CPU time (``time.thread_time_ns``) and the garbage collector's inside them; each worker
writes its sums to a file every 200 calls. Both servers (the config's, ``--workers 2`` each, as bench/otel_cpu.py
serves them) are driven at once by wrk for ``--seconds``, ``--rounds`` times. Prints per round and as medians: the
servers' CPU per request and the guards' CPU per request (per call of ``before``).
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import otel_cpu

TIMED = """

import gc as _gc
import os as _os
import time as _time

_SUMS = {"before": [0, 0], "after": [0, 0], "chunk": [0, 0], "gc": [0, 0]}
_INSIDE = [False]
_GC_START = [0]


def _gc_phase(phase, info):  # type: ignore[no-untyped-def]
    if phase == "start":
        _GC_START[0] = _time.thread_time_ns()
    elif _INSIDE[0]:
        _SUMS["gc"][0] += _time.thread_time_ns() - _GC_START[0]
        _SUMS["gc"][1] += 1


_gc.callbacks.append(_gc_phase)


def _timed(name, method, is_async):  # type: ignore[no-untyped-def]
    def done(start):  # type: ignore[no-untyped-def]
        _INSIDE[0] = False
        sums = _SUMS[name]
        sums[0] += _time.thread_time_ns() - start
        sums[1] += 1
        if name == "before" and sums[1] % 200 == 0:
            with open(_os.environ["WG_GUARDS_TIMES"] + f".{_os.getpid()}", "w") as f:
                f.write(repr(_SUMS))

    if is_async:
        async def timed(*args):  # type: ignore[no-untyped-def]
            start = _time.thread_time_ns()
            _INSIDE[0] = True
            try:
                return await method(*args)
            finally:
                done(start)
    else:
        def timed(*args):  # type: ignore[no-untyped-def]
            if _INSIDE[0]:  # on_chunk inside on_batch: counted by on_batch
                return method(*args)
            start = _time.thread_time_ns()
            _INSIDE[0] = True
            try:
                return method(*args)
            finally:
                done(start)
    return timed


GuardsStage.before = _timed("before", GuardsStage.before, True)  # type: ignore[method-assign]
GuardsStage.after = _timed("after", GuardsStage.after, True)  # type: ignore[method-assign]
GuardsStage.on_chunk = _timed("chunk", GuardsStage.on_chunk, False)  # type: ignore[method-assign]
if hasattr(GuardsStage, "on_batch"):  # chunks that arrived together (since 2026-12-07)
    GuardsStage.on_batch = _timed("chunk", GuardsStage.on_batch, False)  # type: ignore[method-assign]
"""


def timed_copy(src: str) -> str:
    """A copy of ``src`` (a folder holding ``wardgate/``) whose guards stage is timed."""
    root = Path(tempfile.mkdtemp(prefix="guards-served-")) / "src"
    shutil.copytree(src, root)
    stage = root / "wardgate" / "guards" / "stage.py"
    stage.write_text(stage.read_text() + TIMED)
    return str(root)


def sums(prefix: str, pids: list[int]) -> dict[str, list[int]]:
    total = {"before": [0, 0], "after": [0, 0], "chunk": [0, 0], "gc": [0, 0]}
    for pid in pids:
        path = Path(f"{prefix}.{pid}")
        if path.exists():
            for key, (ns, n) in ast.literal_eval(path.read_text()).items():
                total[key][0] += ns
                total[key][1] += n
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("a", help="src folder A (e.g. main's, from git archive)")
    parser.add_argument("b", help="src folder B")
    parser.add_argument("--config", default="full-guards.yaml", help="relative to bench/, or absolute")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    body = Path(tempfile.mkdtemp()) / "body.json"
    request = {"model": "bench-gpt", "messages": otel_cpu.HARNESS_PROMPT, "max_tokens": 64, "temperature": 0}
    if args.stream:
        request.update(model="bench-gpt-stream", stream=True)
    body.write_text(json.dumps(request))
    prefix = str(Path(tempfile.mkdtemp()) / "times")
    config = str(otel_cpu.BENCH / args.config)
    servers = []
    saved = dict(otel_cpu.os.environ)
    try:
        otel_cpu.os.environ["WG_GUARDS_TIMES"] = prefix
        for src in (args.a, args.b):
            servers.append(otel_cpu.Server(config, sys.executable, timed_copy(src)))
    finally:
        otel_cpu.os.environ.clear()
        otel_cpu.os.environ.update(saved)
    try:
        for server in servers:
            otel_cpu.wrk(server.url, body, 3, server.dir / "wrk.json")  # warm-up
        pids = [otel_cpu.tree(s.proc.pid) for s in servers]
        rows: list[list[tuple[float, float]]] = [[], []]
        for _ in range(args.rounds):
            before = [(otel_cpu.cpu_s(p), sums(prefix, p)) for p in pids]
            with ThreadPoolExecutor(2) as pool:
                counts = list(pool.map(lambda s: otel_cpu.wrk(s.url, body, args.seconds, s.dir / "wrk.json"), servers))
            line = []
            for k, (cpu0, sums0) in enumerate(before):
                sums1 = sums(prefix, pids[k])
                calls = max(1, sums1["before"][1] - sums0["before"][1])
                ns = sum(sums1[key][0] - sums0[key][0] for key in ("before", "after", "chunk"))
                gc_ns = sums1["gc"][0] - sums0["gc"][0]
                served = (otel_cpu.cpu_s(pids[k]) - cpu0) / counts[k] * 1e6
                rows[k].append((served, ns / calls / 1000))
                line.append(
                    f"{'AB'[k]}: {counts[k]} req, {served:.0f} µs/req, guards {ns / calls / 1000:.1f} µs/req "
                    f"(gc {gc_ns / calls / 1000:.1f})"
                )
            print(" | ".join(line), flush=True)
        for k in range(2):
            served = statistics.median(r[0] for r in rows[k])
            guards = statistics.median(r[1] for r in rows[k])
            print(f"{'AB'[k]}: median {served:.0f} µs/req served, guards {guards:.1f} µs/req")
    finally:
        for server in servers:
            server.close()


if __name__ == "__main__":
    main()
