"""RSS of a served gateway over 1M requests from 100,000 users (issue 15, point 2: "100,000 distinct users and 10,000
junk model names leave every metric at ≤ max_series + 1 series; RSS stays flat (±5 %) over 1M requests"), through
HTTP: ``wardgate serve --workers 2`` with telemetry's metrics, a budget per project and rate limits per key and per
user, in front of the nginx fake upstream (bench/harness/fake_upstream; 127.0.0.1:18080). 100,000 users, each with
a virtual key, are written to the store first; wrk (bench/soak_keys.lua) sends every request with the next key and
every 10th with one of 10,000 junk model names (a 404). Between wrk runs the workers' RSS is read from /proc; the
figure is the spread of RSS after the warm-up (the first 10 % of the requests) against RSS at its end. At the end,
``/metrics`` is scraped and its series counted per metric family.

    .venv/bin/python bench/http_soak.py                    # 1,000,000 requests
    .venv/bin/python bench/http_soak.py --requests 200000 --users 20000
    .venv/bin/python bench/http_soak.py --rate 800        # paced: the same load from start to end

The per-key structures a worker keeps are bounded by time as well as count (the key cache holds the keys of the last
30 s, the rate windows those of the last 60 s), so at 100,000 users their size follows the request rate: an unpaced
run whose rate drifts (other processes on the machine) moves RSS with it. ``--rate`` keeps the load the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from wardgate.store.engine import create_engine, upgrade
from wardgate.store.keys import KEY_PREFIX, VISIBLE, key_hash
from wardgate.store.tables import api_keys, projects, users

ROOT = Path(__file__).resolve().parents[1]
MASTER = "sk-soak-master-key"
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(url: str, n: int, keys_file: Path) -> None:
    """n users, each with one key of the one project, written in bulk (the admin API would take minutes)."""
    engine = create_engine(url)
    await upgrade(engine)
    now = datetime.now(UTC)
    keys = [f"{KEY_PREFIX}soak{i:08d}{'x' * 32}" for i in range(n)]
    async with engine.begin() as conn:
        await conn.execute(insert(projects).values(id="prj_soak", name="soak", metadata={}, created_at=now))
        await conn.execute(
            insert(users), [{"id": f"usr_{i}", "email": f"user{i}@soak.example", "created_at": now} for i in range(n)]
        )
        await conn.execute(
            insert(api_keys),
            [
                {
                    "id": f"key_soak_{i}",
                    "prefix": key[:VISIBLE],
                    "hash": key_hash(key),
                    "project_id": "prj_soak",
                    "user_id": f"usr_{i}",
                    "tags": {},
                    "created_at": now,
                }
                for i, key in enumerate(keys)
            ],
        )
    await engine.dispose()
    with open(keys_file, "w") as f:  # noqa: ASYNC230 - a bench's set-up, nothing else runs
        f.write("\n".join(keys) + "\n")


def workers(root: int) -> list[int]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    with open(f"/proc/{root}/task/{root}/children") as f:
        children = [int(c) for c in f.read().split()]
    out = []
    for pid in children:
        with open(f"/proc/{pid}/cmdline") as f:
            if "resource_tracker" not in f.read():
                out.append(pid)
    return out


def workers_rss_mib(root: int) -> list[float]:
    out = []
    for pid in workers(root):
        with open(f"/proc/{pid}/statm") as f:
            out.append(int(f.read().split()[1]) * PAGE / 2**20)
    return out


def workers_anon_mib(root: int) -> list[float]:
    """Anonymous memory (heap, arenas, thread stacks) of each worker, from smaps_rollup: RSS less the mapped files."""
    out = []
    for pid in workers(root):
        with open(f"/proc/{pid}/smaps_rollup") as f:
            anon = next(int(line.split()[1]) for line in f if line.startswith("Anonymous:"))
        out.append(anon / 1024)
    return out


def series(metrics_text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in metrics_text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            for suffix in ("_bucket", "_sum", "_count", "_total", "_created"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
                    break
            counts[name] += 1 if "_bucket" not in line.split("{", 1)[0] else 0
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--junk", type=int, default=10_000)
    parser.add_argument("--max-series", type=int, default=2000)
    parser.add_argument("--segment-s", type=int, default=20)
    parser.add_argument(
        "--rate", type=int, default=0, help="requests a second in all (paced); 0: as fast as the gateway answers"
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server's environment")
    parser.add_argument(
        "--upstream", default="http://127.0.0.1:18080/v1", help="the fake upstream's base URL (another nginx port)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        store = f"sqlite:///{tmp}/soak.db"
        keys_file = Path(tmp) / "keys.txt"
        started = time.monotonic()
        asyncio.run(seed(store, args.users, keys_file))
        print(f"seeded {args.users} users and keys in {time.monotonic() - started:.0f} s", flush=True)
        config = Path(tmp) / "wardgate.yaml"
        config.write_text(f"""master_key: {MASTER}
store: {store}
providers:
  fake: {{type: openai, base_url: {args.upstream}, api_key: sk-fake-upstream-key}}
models:
  bench-gpt: [{{provider: fake, model: gpt-4o-mini}}]
budgets:
  - {{name: soak-monthly, scope: project, window: month, limit_usd: 1000000, cap: hard}}
rate_limits:
  - {{name: per-key, scope: key, rpm: 100000000}}
  - {{name: per-user, scope: user, rpm: 100000000}}
telemetry:
  metrics: {{max_series: {args.max_series}}}
  access_log: off
""")
        port = free_port()
        serve = [str(ROOT / ".venv/bin/wardgate"), "serve", "--config", str(config), "--port", str(port)]
        server = subprocess.Popen(
            [*serve, "--workers", "2"],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "server.log", "wb"),  # noqa: SIM115 - closed with the process
            env={**os.environ, **dict(item.split("=", 1) for item in args.env)},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/health/ready", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            done, samples, warm_rss = 0, [], None
            out = Path(tmp) / "wrk.json"
            while done < args.requests:
                env = {
                    **os.environ,
                    "BENCH_KEYS": str(keys_file),
                    "BENCH_JUNK": str(args.junk),
                    "BENCH_OUT": str(out),
                    "BENCH_OFFSET": str(done),
                    **({"BENCH_RATE": str(args.rate), "BENCH_THREADS": "2"} if args.rate else {}),
                }
                cmd = ["wrk", "-t2", "-c16", f"-d{args.segment_s}s", "-s", str(ROOT / "bench/soak_keys.lua"), base]
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
                run = json.loads(out.read_text())
                done += int(run["requests"])
                rss = workers_rss_mib(server.pid)
                samples.append((done, rss))
                if warm_rss is None and done >= args.requests // 10:
                    warm_rss = rss
                anon = [round(r, 1) for r in workers_anon_mib(server.pid)]
                print(
                    json.dumps({**run, "total": done, "rss_mib": [round(r, 1) for r in rss], "anon_mib": anon}),
                    flush=True,
                )
            with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
                counts = series(answer.read().decode())
        finally:
            server.terminate()
            server.wait(timeout=60)
    assert warm_rss is not None
    after = [rss for n, rss in samples if n >= args.requests // 10]
    spread = [
        (min(r[i] for r in after) / warm_rss[i] - 1, max(r[i] for r in after) / warm_rss[i] - 1)
        for i in range(len(warm_rss))
    ]
    print(
        json.dumps(
            {
                "requests": done,
                "users": args.users,
                "junk_models": args.junk,
                "rss_after_warmup_mib": [round(r, 1) for r in warm_rss],
                "rss_end_mib": [round(r, 1) for r in samples[-1][1]],
                "spread_pct": [[round(100 * lo, 1), round(100 * hi, 1)] for lo, hi in spread],
                "largest_family_series": counts.most_common(3),
                "max_series": args.max_series,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
