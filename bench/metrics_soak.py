"""RSS over 1M requests' metrics (issue 15, point 2): the Prometheus families of a worker (``RequestMetrics``) record
N calls from 100,000 distinct users (their keys and projects) with 10,000 junk model names among them, and are
rendered as ``/metrics`` every 10,000 calls; the process's RSS is read after each render. Flat means the series are
capped (``max_series``) and nothing per user or per junk name is kept anywhere.

    .venv/bin/python bench/metrics_soak.py                     # 1,000,000 calls, max_series 2000
    .venv/bin/python bench/metrics_soak.py --calls 200000

The first 10 % of the calls are the warm-up (the families fill up to the cap, the allocator's arenas grow); the figure
is the spread of RSS over the rest, against the RSS at the end of the warm-up (the issue's bar: ±5 %).
"""

from __future__ import annotations

import argparse
import gc
import os
import time

from wardgate.core.call import Call
from wardgate.core.deployment import Deployment
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage
from wardgate.observability.metrics import render
from wardgate.telemetry.metrics import RequestMetrics

USERS = 100_000
JUNK = 10_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--max-series", type=int, default=2000)
    args = parser.parse_args()
    models = [f"model-{i}" for i in range(6)]
    metrics = RequestMetrics(models, max_series=args.max_series)
    deployments = [
        Deployment(name=f"up/{m}", provider="up", upstream_model=m, adapter=None)  # type: ignore[arg-type]
        for m in models
    ]
    warm = args.calls // 10
    base = 0.0
    samples: list[tuple[int, float]] = []
    started = time.perf_counter()
    for i in range(args.calls):
        user = i % USERS
        junk = i % 100 == 7  # 1 % of the calls name a junk model: 10,000 distinct names over 1M calls
        model = f"junk-{(i // 100) % JUNK}" if junk else models[i % 6]
        call = Call(f"{i:024x}", "openai", "chat", model, {}, i % 3 == 0, None, 0.0)
        call.principal = Principal(kind="key", id=f"k{user}", project=f"p{user % 500}", user=f"user-{user}")
        if not junk:
            call.deployment = deployments[i % 6]
            call.usage = Usage(input_tokens=i % 500 + 1, output_tokens=i % 70 + 2)
            call.first_token_at = 0.01 if call.stream else None
        status = 404 if junk else (429 if i % 50 == 3 else 200)
        error = "invalid_request_error" if junk else ("rate_limit_error" if status == 429 else None)
        metrics.record(call, "openai", status, error, 5, 0.1, 0.2)
        if (i + 1) % 10_000 == 0:
            render(metrics.samples())
            gc.collect()
            rss = rss_mib()
            if i + 1 >= warm:
                base = base or rss
                samples.append((i + 1, rss))
    elapsed = time.perf_counter() - started
    series = max(len(f.series) for f in metrics.families)
    low, high = min(r for _, r in samples), max(r for _, r in samples)
    print(f"{args.calls:,} calls in {elapsed:.0f} s; the largest family has {series} series (cap {args.max_series})")
    print(f"RSS after the warm-up ({warm:,} calls): {base:.1f} MiB; then {low:.1f} … {high:.1f} MiB")
    print(f"spread: {100 * (low - base) / base:+.2f} % … {100 * (high - base) / base:+.2f} % (bar: ±5 %)")
    print("checkpoints:", ", ".join(f"{n // 1000}k {r:.1f}" for n, r in samples[:: max(1, len(samples) // 10)]))


if __name__ == "__main__":
    main()
