#!/usr/bin/env python3
"""Wardgate's own quick load test (standard library only, plus nginx and wrk).

Starts the harness's fake OpenAI upstream (nginx on 127.0.0.1:18080) and Wardgate
(`wardgate serve --config bench/config.yaml --port 4010 --workers 2`), measures
Wardgate's cold start, then for each mode (chat = JSON answers, stream = SSE)
and each concurrency runs wrk straight at the upstream ("direct") and through
Wardgate, while sampling the CPU time and memory of Wardgate's process tree
from /proc. Then a paced run at about half of Wardgate's saturation rate at
c=16 (its p99 at a sane load), and optionally a soak (--requests-soak N) that
shows whether RSS stays flat. Prints a Markdown summary and writes it, with
every figure as JSON, to bench-results/load-<UTC>.{md,json}.

Everything runs on 127.0.0.1. Wardgate and nginx are stopped at the end,
also on errors and Ctrl-C. See bench/README.md for what each figure means.

Usage: python3 bench/load.py [--conc 1,16] [--duration 8] [--warmup 2] [--modes chat,stream]
                             [--half-rate-conc 16 | --no-half-rate] [--requests-soak N]
                             [--gateway-cmd CMD | --gateway-cmd floor] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RATE_LUA = BENCH / "wrk_rate.lua"
UPSTREAM_DIR = Path("/tmp/bench-upstream")
UPSTREAM_PID = UPSTREAM_DIR / "nginx.pid"
UPSTREAM_PORT = 18080
HOST = "127.0.0.1"
TICK = os.sysconf("SC_CLK_TCK")
MODES = ("chat", "stream")

MASTER_KEY = "sk-bench-master-key"
UPSTREAM_KEY = "sk-fake-upstream-key"
BODY_BYTES = 1024  # every request body is padded to exactly this size

# The same shape as the peer harness's request (system + user message,
# max_tokens 64, temperature 0), with the system prompt padded to ~1 KB.
SYSTEM = "You are a concise assistant."
USER = "In one sentence, what does benchmarking an HTTP proxy mean?"
FILLER = (
    " Answer in plain prose, without lists or headings, and keep to the facts"
    " that the question asks about; say so when you do not know."
)

WARDGATE_CMD = (
    "{root}/.venv/bin/wardgate serve --config {root}/bench/config.yaml --host 127.0.0.1 --port {port} --workers 2"
)
# The harness's bare proxy (floor-uvicorn-aiohttp),
# same model names and keys (floor/floor_config.json). Its venv: bench/harness/floor/install_floor.sh.
FLOOR_CMD = (
    "CLIENT=aiohttp /tmp/floor-venv/bin/uvicorn asgi_proxy:app --app-dir {harness}/floor"
    " --host 127.0.0.1 --port {port} --workers 2 --no-access-log --log-level warning"
    " --loop uvloop --http httptools"
)


class BenchError(Exception):
    """A setup step failed: the run cannot go on."""


def log(*parts: object) -> None:
    with contextlib.suppress(OSError):  # a closed stderr must not stop the clean-up
        print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ request bodies
def make_body(model: str, stream: bool, size: int = BODY_BYTES) -> bytes:
    """The chat request, its system prompt padded so the JSON body is `size` bytes."""

    def encode(system: str) -> bytes:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": USER}],
            "max_tokens": 64,
            "temperature": 0,
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return json.dumps(body).encode()

    missing = size - len(encode(SYSTEM))
    pad = (FILLER * (missing // len(FILLER) + 1))[: max(0, missing)]
    return encode(SYSTEM + pad)


# ------------------------------------------------------------------ /proc sampling
def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def tree_pids(root: int) -> list[int]:
    """root and all its descendants (by parent pid, from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                kids.setdefault(int(_stat_fields(int(d))[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if os.path.exists(f"/proc/{p}"):
            out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_info(pid: int) -> dict[str, Any] | None:
    """rss/pss (KiB), cpu ticks (utime+stime), parent and command of one process."""
    try:
        st = _stat_fields(pid)
        info: dict[str, Any] = {"pid": pid, "ppid": int(st[1]), "ticks": int(st[11]) + int(st[12])}
        info["rss_kib"] = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    info["rss_kib"] = int(line.split()[1])
                    break
        info["pss_kib"] = 0
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    info["pss_kib"] = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            info["cmd"] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
        return info
    except (OSError, IndexError, ValueError):
        return None


def tree_sample(root: int) -> list[dict[str, Any]]:
    return [i for i in (proc_info(p) for p in tree_pids(root)) if i]


def tree_ticks(root: int) -> int:
    return sum(i["ticks"] for i in tree_sample(root))


def idle_cpu_cores(root: int, seconds: float) -> float:
    """CPU the tree burns with no load: cores (CPU seconds per second) over `seconds`."""
    t0, w0 = tree_ticks(root), time.monotonic()
    time.sleep(seconds)
    return round((tree_ticks(root) - t0) / TICK / (time.monotonic() - w0), 3)


def mib(kib: float) -> float:
    return round(kib / 1024, 1)


def memory_snapshot(root: int) -> dict[str, Any]:
    """Per-process and total RSS/PSS of the tree; 'workers' are the root's children
    (the root itself when it has none), helpers like multiprocessing's resource tracker excluded."""
    procs = tree_sample(root)
    children = [p for p in procs if p["ppid"] == root and "resource_tracker" not in p["cmd"]]
    workers = children or [p for p in procs if p["pid"] == root]
    for p in procs:
        p["role"] = "worker" if p in workers else ("supervisor" if p["pid"] == root else "helper")
    return {
        "processes": [
            {
                "pid": p["pid"],
                "role": p["role"],
                "rss_mib": mib(p["rss_kib"]),
                "pss_mib": mib(p["pss_kib"]),
                "cmd": p["cmd"],
            }
            for p in procs
        ],
        "total_rss_mib": mib(sum(p["rss_kib"] for p in procs)),
        "total_pss_mib": mib(sum(p["pss_kib"] for p in procs)),
        "workers": len(workers),
        "rss_per_worker_mib": mib(statistics.mean(p["rss_kib"] for p in workers)) if workers else None,
        "pss_per_worker_mib": mib(statistics.mean(p["pss_kib"] for p in workers)) if workers else None,
    }


class Sampler(threading.Thread):
    """Peak RSS/PSS (summed over the tree) while a load runs, every 250 ms."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_rss = self.peak_pss = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            procs = tree_sample(self.root)
            self.peak_rss = max(self.peak_rss, sum(p["rss_kib"] for p in procs))
            self.peak_pss = max(self.peak_pss, sum(p["pss_kib"] for p in procs))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# ------------------------------------------------------------------ HTTP checks
def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def check_answer(url: str, body: bytes, headers: dict[str, str], stream: bool, timeout: float = 10) -> str:
    """POST once; return a short description, raise ValueError/OSError if it is not a real completion."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise ValueError(f"HTTP {e.code}: {e.read()[:300]!r}") from None
    if not stream:
        try:
            obj = json.loads(text)
            content = obj["choices"][0]["message"]["content"]
            total = obj["usage"]["total_tokens"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise ValueError(f"not a chat completion ({e!r}): {text[:300]!r}") from None
        if not content or not total:
            raise ValueError(f"empty completion: {text[:300]!r}")
        return f"JSON, {len(content)} chars, usage.total_tokens={total}"
    events = [ln[5:].strip() for ln in text.splitlines() if ln.startswith("data:")]
    if not events or events[-1] != "[DONE]":
        raise ValueError(f"SSE without a final [DONE]: {text[-300:]!r}")
    pieces, usage = [], None
    for ev in events[:-1]:
        obj = json.loads(ev)
        for ch in obj.get("choices") or []:
            pieces.append((ch.get("delta") or {}).get("content") or "")
        usage = obj.get("usage") or usage
    if not "".join(pieces):
        raise ValueError("SSE stream without content")
    return f"SSE, {len(events) - 1} chunks, {len(''.join(pieces))} chars, usage={'yes' if usage else 'no'}"


# ------------------------------------------------------------------ processes
def fake_upstreams(conf: Path) -> list[int]:
    """nginx masters running with this conf (whoever started them)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
                if b"nginx: master" in cmd and str(conf).encode() in cmd and running(int(d)):
                    out.append(int(d))
    return out


class Upstream:
    """The harness's fake upstream, started exactly as the harness starts it."""

    def __init__(self, harness: Path) -> None:
        self.prefix = harness / "fake_upstream"
        self.conf = self.prefix / "nginx.conf"
        self.pid: int | None = None
        self.others: list[int] = []

    def start(self) -> None:
        UPSTREAM_DIR.mkdir(parents=True, exist_ok=True)
        if UPSTREAM_PID.exists():
            try:
                old = int(UPSTREAM_PID.read_text().strip())
                cmd = Path(f"/proc/{old}/cmdline").read_bytes()
            except (OSError, ValueError):
                cmd = b""
            if b"nginx" in cmd:
                raise BenchError(
                    f"an nginx master (pid {old}) already owns {UPSTREAM_PID}: another benchmark is "
                    f"running, or one was left over (stop it with: kill -QUIT {old})"
                )
        others = fake_upstreams(self.conf)
        if others:  # without a pid file, or in another network namespace: it may be idle, or busy
            self.others = others
            log(
                f"WARNING: another fake upstream nginx runs (pid {', '.join(map(str, others))}, no pid file): "
                "a leftover (stop it: kill -QUIT <pid>) or another benchmark sharing the CPUs"
            )
        if port_open(UPSTREAM_PORT):
            raise BenchError(f"{HOST}:{UPSTREAM_PORT} is already taken; stop whatever listens there first")
        if not (self.prefix / "static" / "chat.json").exists():
            raise BenchError(f"{self.prefix}/static is missing (see bench/harness/fake_upstream/gen_static.py)")
        with contextlib.suppress(FileNotFoundError):
            UPSTREAM_PID.unlink()
        subprocess.run(
            [
                "nginx",
                "-p",
                f"{self.prefix}/",
                "-c",
                str(self.conf),
                "-e",
                str(UPSTREAM_DIR / "error.log"),
            ],
            check=True,
        )
        for _ in range(100):
            if UPSTREAM_PID.exists() and port_open(UPSTREAM_PORT):
                break
            time.sleep(0.05)
        else:
            raise BenchError(f"nginx did not come up on {HOST}:{UPSTREAM_PORT}; see {UPSTREAM_DIR}/error.log")
        self.pid = int(UPSTREAM_PID.read_text().strip())
        log(f"fake upstream: nginx master pid {self.pid} on {HOST}:{UPSTREAM_PORT}")

    def stop(self) -> None:
        if not self.pid:
            return
        pids = tree_pids(self.pid)
        for sig, wait_s in ((signal.SIGQUIT, 5.0), (signal.SIGTERM, 3.0)):  # graceful, then fast
            if not running(self.pid):
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(running(p) for p in pids):
                time.sleep(0.05)
        for p in pids:
            if running(p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        log(f"fake upstream stopped (pid {self.pid})")
        self.pid = None


class Gateway:
    """The gateway under test, in its own session/process group."""

    def __init__(self, cmd: str, log_path: Path, cwd: Path) -> None:
        self.cmd, self.log_path, self.cwd = cmd, log_path, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        self.logf = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        # bash -c "exec env ...": VAR=value prefixes allowed; exec keeps the pid and the process group.
        self.proc = subprocess.Popen(
            ["bash", "-c", "exec env " + self.cmd],
            cwd=self.cwd,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 15 s, then any leftover of its tree by pid."""
        if self.proc is None:
            return
        pids = tree_pids(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log("gateway did not stop on SIGTERM within 15 s: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        time.sleep(0.3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for p in pids:  # a child that left the group
            if running(p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        log(f"gateway stopped (pid {self.proc.pid}, exit {self.proc.returncode})")
        self.proc = None
        self.logf.close()

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


# ------------------------------------------------------------------ wrk
class Wrk:
    def __init__(self, post_lua: Path, run_dir: Path, threads: int = 2) -> None:
        self.post_lua, self.run_dir, self.threads = post_lua, run_dir, threads

    def run(
        self,
        url: str,
        body_file: Path,
        headers: dict[str, str],
        conc: int,
        duration: float,
        rate: float | None = None,
    ) -> dict[str, Any]:
        threads = max(1, min(self.threads, conc))
        out = self.run_dir / "wrk.json"
        rate_out = self.run_dir / "wrk-rate.json"
        for p in (out, rate_out):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        env = dict(os.environ)
        env["BENCH_BODY_FILE"] = str(body_file)
        env["BENCH_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
        env["BENCH_OUT"] = str(out)
        script = self.post_lua
        if rate:
            script = RATE_LUA
            env.update(
                BENCH_RATE=f"{rate:.3f}",
                BENCH_THREADS=str(threads),
                BENCH_POST_LUA=str(self.post_lua),
                BENCH_RATE_OUT=str(rate_out),
            )
        cmd = ["wrk", f"-t{threads}", f"-c{conc}", f"-d{max(1, round(duration))}s", "--timeout", "10s"]
        cmd += ["--latency", "-s", str(script), url]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
        if r.returncode != 0 or not out.exists():
            raise BenchError(f"wrk failed (rc={r.returncode}): {(r.stderr or r.stdout)[-600:]}")
        res: dict[str, Any] = json.loads(out.read_text())
        if rate and rate_out.exists():
            res["pacing"] = json.loads(rate_out.read_text())
        return res


# ------------------------------------------------------------------ the run
class LoadTest:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.harness = Path(a.harness).resolve()
        self.stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_dir = Path(f"/tmp/bench-load-{self.stamp}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = Path(a.out_dir)
        self.wrk = Wrk(self.harness / "wrk" / "post.lua", self.run_dir)
        self.gw_url = f"http://{HOST}:{a.port}"
        self.up_url = f"http://{HOST}:{UPSTREAM_PORT}"
        self.upstream = Upstream(self.harness)
        self.gateway = Gateway(self.gateway_cmd(), self.run_dir / "gateway.log", cwd=self.run_dir)
        if a.label:
            self.label = a.label
        else:
            self.label = {None: "wardgate", "floor": "floor"}.get(a.gateway_cmd, "gateway")
        self.root: int | None = None
        self.res: dict[str, Any] = {
            "started_utc": self.stamp,
            "machine": machine_info(),
            "settings": {
                "conc": a.conc,
                "duration_s": a.duration,
                "warmup_s": a.warmup,
                "modes": a.modes,
                "half_rate_conc": a.half_rate_conc,
                "requests_soak": a.requests_soak,
                "body_bytes": BODY_BYTES,
                "wrk": "wrk -t2 -cN -dS --latency --timeout 10s (-t1 at c=1)",
            },
            "gateway_cmd": self.gateway.cmd,
            "gateway_label": self.label,
            "logs": str(self.run_dir),
            "runs": [],
        }

    # -------------------------------------------------------------- setup
    def gateway_cmd(self) -> str:
        cmd = self.a.gateway_cmd or WARDGATE_CMD
        if cmd == "floor":
            cmd = FLOOR_CMD
        return cmd.format(root=ROOT, harness=self.harness, port=self.a.port)

    def targets(self, mode: str) -> dict[str, dict[str, Any]]:
        stream = mode == "stream"
        direct_path = "/stream/v1/chat/completions" if stream else "/v1/chat/completions"
        t = {
            "direct": {
                "url": self.up_url + direct_path,
                "model": "gpt-4o-mini",
                "headers": {"Authorization": f"Bearer {UPSTREAM_KEY}"},
            },
            "wardgate": {
                "url": self.gw_url + "/v1/chat/completions",
                "model": "bench-gpt-stream" if stream else "bench-gpt",
                "headers": {"Authorization": f"Bearer {MASTER_KEY}"},
            },
        }
        for name, v in t.items():
            body = make_body(v["model"], stream)
            v["body"] = body
            v["body_file"] = self.run_dir / f"body-{name}-{mode}.json"
            v["body_file"].write_bytes(body)
        return t

    def preflight(self) -> None:
        for tool in ("nginx", "wrk"):
            if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
                raise BenchError(f"{tool} is not installed (bench/run.sh installs it: apt-get install nginx wrk)")
        if not (self.harness / "wrk" / "post.lua").exists():
            raise BenchError(f"the benchmark harness is not at {self.harness} (use --harness DIR)")
        first = shlex.split(self.gateway.cmd)
        exe = next((w for w in first if "=" not in w), "")
        if "/" in exe and not os.access(exe, os.X_OK):
            raise BenchError(
                f"{exe} is not an executable file. Until `wardgate serve` exists, "
                "test with the harness's floor proxy: --gateway-cmd floor "
                "(its venv: bash bench/harness/floor/install_floor.sh)"
            )
        if port_open(self.a.port):
            raise BenchError(f"{HOST}:{self.a.port} is already taken (a `make run` server?); stop it first")

    def start_gateway(self) -> None:
        chat = self.targets("chat")["wardgate"]
        log(f"gateway: {self.gateway.cmd}")
        t0 = time.monotonic()
        self.root = self.gateway.start()
        detail = ""
        while time.monotonic() - t0 < self.a.ready_timeout:
            if not self.gateway.alive():
                raise BenchError(f"the gateway exited before answering:\n{self.gateway.log_tail()}")
            try:
                detail = check_answer(chat["url"], chat["body"], chat["headers"], False, timeout=5)
                break
            except (OSError, ValueError, http.client.HTTPException) as e:
                detail = f"{type(e).__name__}: {e}"
            time.sleep(0.05)
        else:
            raise BenchError(
                f"no valid chat completion through the gateway after {self.a.ready_timeout} s "
                f"(last: {detail}):\n{self.gateway.log_tail()}"
            )
        cold = time.monotonic() - t0
        self.res["cold_start_s"] = round(cold, 3)
        log(f"gateway ready in {cold:.3f} s (pid {self.root}): {detail}")
        cpu = idle_cpu_cores(self.root, 2)
        self.res["idle"] = memory_snapshot(self.root)
        self.res["idle"]["cpu_cores"] = cpu
        log(
            f"idle: {self.res['idle']['total_rss_mib']} MiB RSS in {len(self.res['idle']['processes'])} "
            f"process(es), {self.res['idle']['rss_per_worker_mib']} MiB per worker, {cpu} CPU cores"
        )

    # -------------------------------------------------------------- measuring
    def measure(
        self, mode: str, name: str, t: dict[str, Any], conc: int, duration: float, rate: float | None = None
    ) -> dict[str, Any]:
        gw = name != "direct" and self.root is not None
        if name != "direct" and not self.gateway.alive():
            raise BenchError(f"the gateway died during the load:\n{self.gateway.log_tail()}")
        sampler = None
        ticks0 = 0
        if gw:
            assert self.root is not None
            ticks0 = tree_ticks(self.root)
            sampler = Sampler(self.root)
            sampler.start()
        w0 = time.monotonic()
        try:
            w = self.wrk.run(t["url"], t["body_file"], t["headers"], conc, duration, rate)
        finally:
            wall = time.monotonic() - w0
            if sampler:
                sampler.stop()
        lat = w["lat_us"]
        run: dict[str, Any] = {
            "mode": mode,
            "target": name if name == "direct" else self.label,
            "conc": conc,
            "rps": round(w["rps"], 1),
            "requests": w["requests"],
            "p50_ms": lat["p50"] / 1000,
            "p90_ms": lat["p90"] / 1000,
            "p99_ms": lat["p99"] / 1000,
            "max_ms": lat["max"] / 1000,
            "errors": w["errors"],
            "error_count": sum(w["errors"].values()),
        }
        if rate:
            run["target_rps"] = round(rate, 1)
            run["pacing"] = w.get("pacing")
        if gw and sampler:
            assert self.root is not None
            cpu_s = (tree_ticks(self.root) - ticks0) / TICK
            run.update(
                cpu_cores=round(cpu_s / wall, 2),
                cpu_ms_per_req=round(1000 * cpu_s / max(1, w["requests"]), 3),
                peak_rss_mib=mib(sampler.peak_rss),
                peak_pss_mib=mib(sampler.peak_pss),
            )
        log(
            f"{mode:6} {run['target']:8} c={conc:<3}"
            + (f" rate={rate:.0f}/s" if rate else "")
            + f": {run['rps']:.0f} rps, p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, "
            f"errors {run['error_count']}"
            + (f", {run['cpu_ms_per_req']} CPU ms/req, peak RSS {run['peak_rss_mib']} MiB" if gw else "")
        )
        return run

    def run_modes(self) -> None:
        a = self.a
        for mode in a.modes:
            t = self.targets(mode)
            for name, v in t.items():
                detail = check_answer(v["url"], v["body"], v["headers"], mode == "stream")
                log(f"{mode:6} {name if name == 'direct' else self.label:8} check OK: {detail}")
            if a.warmup > 0:
                log(f"{mode:6} warm-up {a.warmup} s through the gateway at c={max(a.conc)}")
                w = t["wardgate"]
                self.wrk.run(w["url"], w["body_file"], w["headers"], max(a.conc), a.warmup)
            for conc in a.conc:
                for name in ("direct", "wardgate"):
                    self.res["runs"].append(self.measure(mode, name, t[name], conc, a.duration))

    def run_half_rate(self) -> None:
        """Saturation RPS through the gateway at c=half_rate_conc (from the runs above, or
        measured now), then a paced run at half that rate, through the gateway and direct."""
        a = self.a
        c = a.half_rate_conc
        self.res["half_rate"] = []
        for mode in a.modes:
            t = self.targets(mode)
            sat = next(
                (
                    r
                    for r in self.res["runs"]
                    if r["mode"] == mode and r["target"] == self.label and r["conc"] == c and "target_rps" not in r
                ),
                None,
            )
            if sat is None:
                sat = self.measure(mode, "wardgate", t["wardgate"], c, a.duration)
                self.res["runs"].append(sat)
            rate = sat["rps"] / 2
            if rate < 1:
                log(f"{mode}: saturation {sat['rps']} rps is too low for a half-rate run")
                continue
            rows = {n: self.measure(mode, n, t[n], c, a.duration, rate=rate) for n in ("direct", "wardgate")}
            g = rows["wardgate"]
            g["saturation_rps"] = sat["rps"]
            g["add_p50_ms"] = round(g["p50_ms"] - rows["direct"]["p50_ms"], 3)
            g["add_p99_ms"] = round(g["p99_ms"] - rows["direct"]["p99_ms"], 3)
            self.res["half_rate"] += [rows["direct"], g]

    def run_soak(self) -> None:
        """N requests at c=16 in chunks (alternating the modes), RSS after each chunk."""
        a = self.a
        assert self.root is not None
        n, c = a.requests_soak, 16
        chunk_s = a.soak_chunk
        modes = {m: self.targets(m)["wardgate"] for m in a.modes}
        start = memory_snapshot(self.root)
        soak: dict[str, Any] = {"requests_target": n, "conc": c, "start": start, "chunks": []}
        self.res["soak"] = soak
        log(f"soak: {n} requests at c={c}, RSS at start {start['total_rss_mib']} MiB")
        done = errors = 0
        t0 = time.monotonic()
        i = 0
        while done < n:
            if time.monotonic() - t0 > a.soak_max_s:
                log(f"soak: stopped at the --soak-max-s bound ({a.soak_max_s} s)")
                soak["stopped_by_time_bound"] = True
                break
            mode = a.modes[i % len(a.modes)]
            i += 1
            if soak["chunks"]:
                rps = max(1.0, soak["chunks"][-1]["rps"])
            else:  # first chunk: the c=16 closed-loop rate measured above, if any
                rps = max([r["rps"] for r in self.res["runs"] if r["target"] != "direct"] + [1000.0])
            dur = max(1.0, min(chunk_s, (n - done) / rps))
            r = self.measure(mode, "wardgate", modes[mode], c, dur)
            done += r["requests"]
            errors += r["error_count"]
            snap = memory_snapshot(self.root)
            soak["chunks"].append(
                {
                    "mode": mode,
                    "requests": r["requests"],
                    "rps": r["rps"],
                    "cumulative": done,
                    "errors": r["error_count"],
                    "rss_mib": snap["total_rss_mib"],
                    "rss_per_worker_mib": snap["rss_per_worker_mib"],
                }
            )
            log(f"soak: {done}/{n} requests, RSS {snap['total_rss_mib']} MiB")
        time.sleep(3)
        soak.update(requests=done, errors=errors, end=memory_snapshot(self.root))
        soak["rss_growth_mib"] = round(soak["end"]["total_rss_mib"] - start["total_rss_mib"], 1)
        log(
            f"soak: {done} requests, RSS {start['total_rss_mib']} -> {soak['end']['total_rss_mib']} MiB "
            f"({soak['rss_growth_mib']:+} MiB)"
        )

    def run(self) -> int:
        a = self.a
        self.preflight()
        try:
            self.upstream.start()
            if self.upstream.others:
                self.res["other_fake_upstreams_running"] = self.upstream.others
            for mode in a.modes:
                d = self.targets(mode)["direct"]
                check_answer(d["url"], d["body"], d["headers"], mode == "stream")
            self.start_gateway()
            self.run_modes()
            if a.half_rate_conc:
                self.run_half_rate()
            assert self.root is not None
            time.sleep(1)
            cpu = idle_cpu_cores(self.root, 2)
            self.res["idle_after_load"] = memory_snapshot(self.root)
            self.res["idle_after_load"]["cpu_cores"] = cpu
            log(f"idle after load: {self.res['idle_after_load']['total_rss_mib']} MiB RSS, {cpu} CPU cores")
            if a.requests_soak:
                self.run_soak()
        except KeyboardInterrupt:
            log("interrupted: stopping, and writing what was measured")
            self.res["interrupted"] = True
        except (BenchError, OSError, ValueError, http.client.HTTPException, subprocess.SubprocessError) as e:
            self.res["error"] = f"{type(e).__name__}: {e}"
            log(f"FAILED: {self.res['error']}")
        finally:
            # no second Ctrl-C in the middle of the clean-up
            old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            try:
                self.gateway.stop()
            finally:
                self.upstream.stop()
                for s, h in old.items():
                    signal.signal(s, h)
        self.res["finished_utc"] = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        if self.res["runs"] or "cold_start_s" in self.res:  # else nothing was measured
            self.write()
        if self.res.get("error") or self.res.get("interrupted"):
            return 2
        bad = [r for r in self.res["runs"] + self.res.get("half_rate", []) if r["error_count"]]
        if bad or self.res.get("soak", {}).get("errors"):
            log("FAILED: some runs had errors (non-2xx or socket errors): those rows are not results")
            return 1
        return 0

    # -------------------------------------------------------------- report
    def write(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        base = self.out_dir / f"load-{self.stamp}"
        add_deltas(self.res["runs"])
        md = render_markdown(self.res)
        base.with_suffix(".json").write_text(json.dumps(self.res, indent=1, default=str) + "\n")
        base.with_suffix(".md").write_text(md)
        with contextlib.suppress(OSError):
            print(md, flush=True)
        log(f"wrote {base}.md and {base}.json (logs: {self.run_dir})")


def add_deltas(runs: list[dict[str, Any]]) -> None:
    direct = {(r["mode"], r["conc"]): r for r in runs if r["target"] == "direct" and "target_rps" not in r}
    for r in runs:
        d = direct.get((r["mode"], r["conc"]))
        if r["target"] != "direct" and d and "target_rps" not in r:
            r["add_p50_ms"] = round(r["p50_ms"] - d["p50_ms"], 3)
            r["add_p99_ms"] = round(r["p99_ms"] - d["p99_ms"], 3)
            r["rps_share_of_direct"] = round(r["rps"] / d["rps"], 4) if d["rps"] else None


def cpu_busy_pct(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU time that was busy over `seconds` (before we start anything)."""

    def read() -> list[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]

    try:
        a = read()
        time.sleep(seconds)
        b = read()
    except (OSError, ValueError):
        return None
    d = [y - x for x, y in zip(a, b, strict=False)]
    idle = d[3] + (d[4] if len(d) > 4 else 0)  # idle + iowait
    return round(100 * (1 - idle / max(1, sum(d[:8]))), 1)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_busy_pct_before": cpu_busy_pct(),
    }
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    for tool, args in (("wrk", ["-v"]), ("nginx", ["-v"])):
        try:
            r = subprocess.run([tool, *args], capture_output=True, text=True, timeout=10)
            info[tool] = (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            info[tool] = "missing"
    return info


def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    s = res["settings"]
    out = [
        f"# Wardgate load test {res['started_utc']}",
        "",
        f"- machine: {m.get('nproc')} CPU ({m.get('cpu', '?')}), kernel {m.get('kernel')}, "
        f"{m.get('mem_total_gib', '?')} GiB; load average at start {m.get('loadavg_at_start')}, "
        f"CPU busy in the second before: {m.get('cpu_busy_pct_before')} %",
        f"- tools: {m.get('wrk')}; {m.get('nginx')}; Python {m.get('python')}",
        f"- gateway: `{res['gateway_cmd']}`",
        f"- runs: {s['duration_s']} s each after a {s['warmup_s']} s warm-up, conc {s['conc']}, "
        f"{s['body_bytes']} B request bodies, max_tokens 64; logs in `{res['logs']}`",
    ]
    if res.get("other_fake_upstreams_running"):
        out.append(
            f"- **warning**: another fake upstream nginx was running (pid {res['other_fake_upstreams_running']}): "
            "another benchmark may have shared the CPUs"
        )
    if res.get("error"):
        out += ["", f"**FAILED**: {res['error']}"]
    if res.get("interrupted"):
        out += ["", "**Interrupted**: partial results."]
    out += ["", "## Startup and memory", ""]
    idle, after = res.get("idle"), res.get("idle_after_load")
    out.append(f"- cold start (spawn to first valid chat completion): {fmt(res.get('cold_start_s'), 3)} s")
    if idle:
        out.append(
            f"- idle RSS: {idle['total_rss_mib']} MiB total (PSS {idle['total_pss_mib']}) in "
            f"{len(idle['processes'])} process(es); per worker {idle['rss_per_worker_mib']} MiB RSS "
            f"(PSS {idle['pss_per_worker_mib']}) over {idle['workers']} worker(s); "
            f"CPU while idle {fmt(idle.get('cpu_cores'), 3)} cores"
        )
    if after:
        out.append(
            f"- idle RSS after load: {after['total_rss_mib']} MiB total (PSS {after['total_pss_mib']}); "
            f"per worker {after['rss_per_worker_mib']} MiB; CPU while idle {fmt(after.get('cpu_cores'), 3)} cores"
        )
    if idle:
        out += [
            "",
            "| pid | role | idle RSS MiB | idle PSS MiB | after load RSS MiB | command |",
            "|" + "---|" * 6,
        ]
        later = {p["pid"]: p for p in (after or {}).get("processes", [])}
        for p in idle["processes"]:
            q = later.get(p["pid"], {})
            out.append(
                f"| {p['pid']} | {p['role']} | {p['rss_mib']} | {p['pss_mib']} | {fmt(q.get('rss_mib'), 1)} "
                f"| `{p['cmd'][:80]}` |"
            )
    out += [
        "",
        "## Throughput and latency (closed loop, wrk)",
        "",
        "| mode | target | conc | RPS | p50 ms | p99 ms | +p50 ms | +p99 ms | share of direct RPS "
        "| gw CPU ms/req | gw CPU cores | peak RSS MiB | errors |",
        "|" + "---|" * 13,
    ]
    for r in res["runs"]:
        out.append(
            f"| {r['mode']} | {r['target']} | {r['conc']} | {r['rps']:.0f} | {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {fmt(r.get('add_p50_ms'))} | {fmt(r.get('add_p99_ms'))} "
            f"| {fmt(r.get('rps_share_of_direct'), 3)} | {fmt(r.get('cpu_ms_per_req'), 3)} "
            f"| {fmt(r.get('cpu_cores'))} | {fmt(r.get('peak_rss_mib'), 1)} | {r['error_count']} |"
        )
    if res.get("half_rate"):
        out += [
            "",
            f"## Half rate (paced, about half of the gateway's saturation RPS at c={s['half_rate_conc']})",
            "",
            "| mode | target | saturation RPS | target RPS | achieved RPS | late sends | p50 ms | p99 ms "
            "| +p50 ms | +p99 ms | gw CPU ms/req | errors |",
            "|" + "---|" * 12,
        ]
        for r in res["half_rate"]:
            pacing = r.get("pacing") or {}
            late = f"{pacing.get('late', 0)}/{pacing.get('paced', 0)}" if pacing else "–"
            out.append(
                f"| {r['mode']} | {r['target']} | {fmt(r.get('saturation_rps'), 0)} | {r['target_rps']:.0f} "
                f"| {r['rps']:.0f} | {late} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {fmt(r.get('add_p50_ms'))} | {fmt(r.get('add_p99_ms'))} "
                f"| {fmt(r.get('cpu_ms_per_req'), 3)} | {r['error_count']} |"
            )
    soak = res.get("soak")
    if soak:
        out += [
            "",
            f"## Soak ({soak.get('requests', 0)} of {soak['requests_target']} requests at c={soak['conc']})",
            "",
            f"- RSS at start {soak['start']['total_rss_mib']} MiB "
            f"(per worker {soak['start']['rss_per_worker_mib']}), at end "
            f"{fmt((soak.get('end') or {}).get('total_rss_mib'), 1)} MiB "
            f"(per worker {fmt((soak.get('end') or {}).get('rss_per_worker_mib'), 1)}); "
            f"growth {fmt(soak.get('rss_growth_mib'), 1)} MiB; errors {soak.get('errors')}",
            "",
            "| chunk | mode | requests | cumulative | RPS | RSS MiB | RSS per worker MiB | errors |",
            "|" + "---|" * 8,
        ]
        for i, ch in enumerate(soak["chunks"], 1):
            out.append(
                f"| {i} | {ch['mode']} | {ch['requests']} | {ch['cumulative']} | {ch['rps']:.0f} "
                f"| {ch['rss_mib']} | {ch['rss_per_worker_mib']} | {ch['errors']} |"
            )
    out += ["", ratios(res), ""]
    return "\n".join(out)


def ratios(res: dict[str, Any]) -> str:
    """One line per mode with the ratios worth recording (only ratios within one run mean anything)."""
    lines = ["## Ratios (this run only)", ""]
    runs = res["runs"]
    for mode in res["settings"]["modes"]:
        for r in runs:
            if r["mode"] == mode and r["target"] != "direct" and r.get("rps_share_of_direct") is not None:
                lines.append(
                    f"- {mode} c={r['conc']}: gateway RPS {100 * r['rps_share_of_direct']:.1f} % of direct; "
                    f"+p50 {fmt(r.get('add_p50_ms'))} ms, +p99 {fmt(r.get('add_p99_ms'))} ms; "
                    f"{fmt(r.get('cpu_ms_per_req'), 3)} CPU ms/req"
                )
    for r in res.get("half_rate", []):
        if r["target"] != "direct":
            lines.append(
                f"- {r['mode']} at half rate ({r['rps']:.0f} of {fmt(r.get('saturation_rps'), 0)} rps): "
                f"p99 {r['p99_ms']:.2f} ms (+{fmt(r.get('add_p99_ms'))} ms over direct at the same rate)"
            )
    return "\n".join(lines)


# ------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def ints(s: str) -> list[int]:
        return [int(x) for x in s.split(",") if x.strip()]

    def modes(s: str) -> list[str]:
        out = [x.strip() for x in s.split(",") if x.strip()]
        if not out or any(m not in MODES for m in out):
            raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}")
        return out

    ap.add_argument("--conc", type=ints, default=[1, 16], help="comma list of wrk connections (default 1,16)")
    ap.add_argument("--duration", type=float, default=8, help="seconds per measured wrk run (default 8)")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of unrecorded warm-up per mode (default 2)")
    ap.add_argument("--modes", type=modes, default=list(MODES), help="chat,stream (default both)")
    ap.add_argument(
        "--half-rate-conc",
        type=int,
        default=16,
        help="connections for the saturation and the paced half-rate runs (default 16)",
    )
    ap.add_argument("--no-half-rate", dest="half_rate_conc", action="store_const", const=0)
    ap.add_argument(
        "--requests-soak", type=int, default=0, metavar="N", help="after the runs, drive N requests at c=16"
    )
    ap.add_argument("--soak-chunk", type=float, default=15, help="seconds per soak chunk (default 15)")
    ap.add_argument("--soak-max-s", type=float, default=900, help="upper bound on the soak's time (default 900)")
    ap.add_argument(
        "--gateway-cmd",
        default=os.environ.get("BENCH_GATEWAY_CMD"),
        help="command that serves the gateway on --port (placeholders {root} {harness} {port}; "
        "VAR=value prefixes allowed); 'floor' = the harness's bare proxy as a stand-in. "
        "Default: .venv/bin/wardgate serve --config bench/config.yaml ... --workers 2",
    )
    ap.add_argument(
        "--label", help="the gateway's name in the tables (default wardgate; floor or gateway with --gateway-cmd)"
    )
    ap.add_argument("--port", type=int, default=4010, help="the gateway's port (default 4010)")
    ap.add_argument("--ready-timeout", type=float, default=60, help="seconds to wait for the first answer")
    ap.add_argument(
        "--harness",
        default=os.environ.get("BENCH_HARNESS") or str(ROOT / "bench" / "harness"),
        help="the peer benchmark harness (default: bench/harness, vendored)",
    )
    ap.add_argument(
        "--out-dir",
        default=os.environ.get("BENCH_RESULTS_DIR") or str(ROOT / "bench-results"),
        help="where load-<UTC>.{md,json} go (default bench-results/)",
    )
    a = ap.parse_args(argv)
    if not a.conc or min(a.conc) < 1:
        ap.error("--conc needs positive integers")
    if a.duration < 1 or a.warmup < 0:
        ap.error("--duration must be >= 1 and --warmup >= 0")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        test = LoadTest(a)
        return test.run()
    except BenchError as e:
        log(f"FAILED: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
