"""Bytes a distinct key (and its user, and a junk model name) leaves behind in a worker, and where (issue 15, point 2):
the gateway in-process (one worker, ASGI calls on its own loop, no HTTP server) with bench/http_soak.py's config and
store, in front of the nginx fake upstream (127.0.0.1:18080). After a warm-up pass over ``--warm`` keys, tracemalloc
compares the heap before and after a pass over ``--keys`` further keys (every 10th request a junk model, a 404);
``stale_key_s`` is raised so no cache entry ages out during the pass. Prints bytes per key in total and by allocation
site, and the deep size per entry of the per-key structures.

    .venv/bin/python bench/key_memory.py --keys 20000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_soak import MASTER, seed  # noqa: E402

from wardgate.app import Gateway  # noqa: E402
from wardgate.config import load_config_text  # noqa: E402


async def call(app: Gateway, key: str, model: str) -> int:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run_pass(app: Gateway, keys: list[str], junk: int, concurrency: int = 16) -> Counter[int]:
    statuses: Counter[int] = Counter()
    queue = iter(enumerate(keys))

    async def client() -> None:
        for n, key in queue:
            model = f"junk-model-{n % junk}" if n % 10 == 9 else "bench-gpt"
            statuses[await call(app, key, model)] += 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses


def deep_size(obj: object, seen: set[int] | None = None) -> int:
    """sys.getsizeof over everything reachable through containers, slots and __dict__ (each object once)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or isinstance(obj, (bool, type)):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
        size += sum(deep_size(x, seen) for x in obj)  # type: ignore[attr-defined]
    else:
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(obj, slot):
                    size += deep_size(getattr(obj, slot), seen)
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            size += deep_size(vars(obj), seen)
    return size


def structures(app: Gateway) -> dict[str, tuple[int, int]]:
    """(entries, deep bytes) of each per-key, per-user or per-model structure of the worker, shared objects once."""
    worker = app.worker
    assert worker is not None
    backend: Any = worker.limits.backend
    found = {
        "identity.KeyCache._entries": worker.key_cache._entries,
        "limits.MemoryLimits._rates": getattr(backend, "_rates", {}),
        "limits.MemoryLimits._budgets": getattr(backend, "_budgets", {}),
        "limits.LimitsStage.seen_keys": worker.limits.seen_keys,
        "identity.KeyUseTally._groups": worker.key_uses._groups,
    }
    return {name: (len(obj), deep_size(obj)) for name, obj in found.items()}


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="keymem-") as tmp:
        await measure(args, tmp)


async def measure(args: argparse.Namespace, tmp: str) -> None:
    store = f"sqlite:///{tmp}/soak.db"
    keys_file = Path(tmp) / "keys.txt"
    total = args.warm + args.keys
    await seed(store, total, keys_file)
    keys = keys_file.read_text().split()
    settings = load_config_text(
        f"""master_key: {MASTER}
store: {store}
providers:
  fake: {{type: openai, base_url: http://127.0.0.1:18080/v1, api_key: sk-fake-upstream-key}}
models:
  bench-gpt: [{{provider: fake, model: gpt-4o-mini}}]
budgets:
  - {{name: soak-monthly, scope: project, window: month, limit_usd: 1000000, cap: hard}}
rate_limits:
  - {{name: per-key, scope: key, rpm: 100000000}}
  - {{name: per-user, scope: user, rpm: 100000000}}
identity: {{stale_key_s: 3600}}
telemetry:
  metrics: {{max_series: 2000}}
  access_log: off
""",
        source="key_memory.yaml",
        env={},
    )
    app = Gateway(settings)
    await app.startup()
    try:
        started = time.monotonic()
        warm = await run_pass(app, keys[: args.warm], args.junk)
        await run_pass(app, keys[: args.warm], args.junk)  # every warm key a second time: caches, pools, sessions
        before_structs = structures(app)
        gc.collect()
        tracemalloc.start(args.frames)
        first = tracemalloc.take_snapshot()
        statuses = await run_pass(app, keys[args.warm :], args.junk)
        await asyncio.sleep(1.5)  # the ledger's, audit's and key-use tally's flushes run
        gc.collect()
        second = tracemalloc.take_snapshot()
        tracemalloc.stop()
        after_structs = structures(app)
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        diff = second.filter_traces(filters).compare_to(first.filter_traces(filters), "traceback")
        grown = sum(d.size_diff for d in diff)
        print(
            json.dumps(
                {
                    "warm_statuses": dict(warm),
                    "statuses": dict(statuses),
                    "keys": args.keys,
                    "bytes_per_key": round(grown / args.keys, 1),
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
        )
        junk_holders = Counter(
            type(o).__name__
            for o in gc.get_objects()
            if isinstance(o, (dict, list, tuple, set, frozenset))
            and any(
                isinstance(x, str) and x.startswith("junk-model-") for x in (o.values() if isinstance(o, dict) else o)
            )
        )
        print(f"containers still holding a junk model name: {sum(junk_holders.values())} {dict(junk_holders)}")
        for name, (n, size) in after_structs.items():
            n0, size0 = before_structs[name]
            per = (size - size0) / max(1, n - n0)
            print(f"{name}: {n0} -> {n} entries, {size0} -> {size} B deep, {per:.0f} B per new entry")
        print(f"allocation sites, bytes per key (top {args.top}):")
        for d in sorted(diff, key=lambda d: -abs(d.size_diff))[: args.top]:
            if abs(d.size_diff) < args.keys:  # under 1 B per key
                break
            frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in d.traceback)
            print(f"  {d.size_diff / args.keys:8.1f} B  {d.count_diff / args.keys:6.2f} blocks  {frames}")
    finally:
        await app.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--warm", type=int, default=2_000)
    parser.add_argument("--junk", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--top", type=int, default=30)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
