"""Bounded Prometheus metrics: every metric stays at ≤ max_series + 1 series whatever clients send, the counters agree
with the ledger to the token and the nano-dollar, and /metrics is well-formed (promtool, where it is installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import func, select

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.call import Call
from wardgate.core.deployment import Deployment
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage
from wardgate.observability.bounded import OTHER, CappedCounter, CappedHistogram
from wardgate.observability.metrics import WorkerCounters, render
from wardgate.store.tables import usage_events
from wardgate.telemetry import semconv
from wardgate.telemetry.metrics import RequestMetrics

MESSAGES: list[Any] = [{"role": "user", "content": "count me"}]
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def test_a_capped_counter_folds_new_label_sets_past_the_cap_into_one_other_series() -> None:
    counter = CappedCounter("x_total", "x", ("model", "user"), max_series=50)
    for i in range(100_000):
        counter.inc((f"junk-{i % 10_000}", f"user-{i}"))
    assert len(counter.series) == 51
    assert counter.series[(OTHER, OTHER)][0] == 100_000 - 50  # nothing lost: the rest is counted under `other`
    assert sum(v[0] for v in counter.series.values()) == 100_000
    counter.inc(("junk-0", "user-0"), 2)  # a series that exists before the cap keeps counting
    assert counter.series[("junk-0", "user-0")][0] == 3


def test_a_capped_histogram_has_cumulative_buckets_sum_and_count() -> None:
    hist = CappedHistogram("h", "h", ("m",), max_series=1, buckets=(1, 4, 16))
    for value in (1, 2, 4, 5, 100):
        hist.observe(("a",), value)
    hist.observe(("b",), 3)  # past the cap
    text = render(hist.samples()).decode()
    assert "# TYPE h histogram" in text
    assert 'h_bucket{le="1",m="a"} 1' in text and 'h_bucket{le="4",m="a"} 3' in text
    assert 'h_bucket{le="16",m="a"} 4' in text and 'h_bucket{le="+Inf",m="a"} 5' in text
    assert 'h_sum{m="a"} 112' in text and 'h_count{m="a"} 5' in text
    assert 'h_count{m="other"} 1' in text


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up", cached_tokens=1).start() as fake:
        yield fake


def gateway(upstream: FakeOpenAI, max_series: int) -> RunningGateway:
    return gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1.5, output: 2.25}}}}]
  vec: [{{provider: up, model: text-embedding-3-small, price: {{input: 0.02, output: 0}}}}]
telemetry:
  metrics: {{max_series: {max_series}}}
""")


def parse(text: str) -> tuple[dict[str, str], dict[str, list[tuple[dict[str, str], float]]]]:
    """(metric → type, metric → samples), checking the exposition format as a scraper reads it: one TYPE per metric
    before its samples, a metric's lines contiguous."""
    types: dict[str, str] = {}
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    order: list[str] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, f"{name} described twice"
            types[name] = kind
            order.append(name)
        elif line and not line.startswith("#"):
            match = _LINE.match(line)
            assert match, line
            name, labels, value = match.groups()
            family = order[-1]
            assert name == family or (types[family] == "histogram" and name.rsplit("_", 1)[0] == family), line
            parsed = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
            samples[name].append((parsed, float(value)))
    return types, samples


def series(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> int:
    if name + "_count" in samples:
        return len(samples[name + "_count"])
    return len(samples[name])


def test_junk_models_and_many_users_never_mint_series_and_counters_agree_with_the_ledger(
    upstream: FakeOpenAI,
) -> None:
    max_series = 3
    with gateway(upstream, max_series) as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            for i in range(40):
                client.chat.completions.create(model="small", messages=MESSAGES, user=f"end-user-{i}")
                if i % 4 == 0:
                    client.embeddings.create(model="vec", input=f"text {i}")
                if i % 5 == 0:
                    with pytest.raises(openai.NotFoundError):
                        client.chat.completions.create(model=f"typo-model-{i}", messages=MESSAGES)
            stream = client.chat.completions.create(model="small", messages=MESSAGES, stream=True)
            assert [c for c in stream]
        gw.run(gw.worker.ledger.flush())
        text = httpx.get(gw.root + "/metrics").text
        sums = gw.run(ledger_sums(gw))
    types, samples = parse(text)
    ours = [name for name in types if name.startswith(("gen_ai_", "wardgate_requests", "wardgate_tokens"))]
    assert len(ours) >= 6
    for name in types:
        assert series(samples, name) <= max_series + 1, name
    assert "typo-model" not in text and "end-user" not in text  # client values are never labels
    models = {labels.get("model") for labels, _ in samples["wardgate_requests_total"]}
    assert models <= {"small", "vec", "unknown", OTHER}
    # the semconv histograms, under OpenTelemetry's Prometheus names, with the convention's buckets
    assert types["gen_ai_client_token_usage"] == "histogram"
    assert types["gen_ai_client_operation_duration_seconds"] == "histogram"
    assert types["gen_ai_server_time_to_first_token_seconds"] == "histogram"
    bounds = [labels["le"] for labels, _ in samples["gen_ai_client_token_usage_bucket"]][
        : len(semconv.TOKEN_BUCKETS) + 1
    ]
    assert bounds == [f"{b:g}" for b in semconv.TOKEN_BUCKETS] + ["+Inf"]
    # to the token and to the nano-dollar (the cap folds label sets, never loses counts)
    tokens: dict[str, float] = defaultdict(float)
    for labels, value in samples["wardgate_tokens_total"]:
        tokens[labels["type"]] += value
    assert tokens[OTHER] > 0  # the cap of 3 was reached: the rest is under `other`, with nothing lost
    assert sum(tokens.values()) == sums["input"] + sums["output"] + sums["cached"]
    usage_sum = sum(v for _, v in samples["gen_ai_client_token_usage_sum"])
    assert usage_sum == sums["input"] + sums["output"]
    # counted in integer nano-dollars, shown in USD: each series reads back to its exact nano-dollars
    assert sum(round(v * 1e9) for _, v in samples["wardgate_spend_usd_total"]) == sums["cost"]
    requests = sum(v for _, v in samples["wardgate_requests_total"])
    assert requests == sums["rows"]


async def ledger_sums(gw: RunningGateway) -> dict[str, int]:
    c = usage_events.c
    async with gw.worker.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    func.sum(c.input_tokens),
                    func.sum(c.output_tokens),
                    func.sum(c.cached_tokens),
                    func.sum(c.cost_nanousd),
                    func.count(),
                ).where(c.billable.is_(True) | c.billable.is_(False))
            )
        ).one()
    return {"input": row[0], "output": row[1], "cached": row[2], "cost": row[3], "rows": row[4]}


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)
def test_promtool_finds_nothing_to_lint_after_a_mixed_load(upstream: FakeOpenAI) -> None:
    with gateway(upstream, 50) as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            for i in range(5):
                client.chat.completions.create(model="small", messages=MESSAGES)
                assert [c for c in client.chat.completions.create(model="small", messages=MESSAGES, stream=True)]
                client.embeddings.create(model="vec", input="x")
                with pytest.raises(openai.NotFoundError):
                    client.chat.completions.create(model=f"nope-{i}", messages=MESSAGES)
        text = httpx.get(gw.root + "/metrics").text
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and checked.stdout.strip() == "" and checked.stderr.strip() == "", (
        checked.stdout + checked.stderr
    )


def test_histograms_are_summed_over_workers_bucket_by_bucket(tmp_path: Path) -> None:
    workers = []
    for values in ([1, 2, 100], [3]):
        hist = CappedHistogram("h_seconds", "h", ("m",), max_series=5, buckets=(1, 4))
        for v in values:
            hist.observe(("a",), v)
        counters = WorkerCounters(tmp_path)
        counters.publish(hist.samples())
        workers.append(counters)
    text = render(sorted(workers[0].totals(), key=lambda s: s.metric)).decode()
    types, samples = parse(text)
    assert types == {"h_seconds": "histogram"}
    assert [v for _, v in samples["h_seconds_bucket"]] == [1, 3, 4]  # le=1, le=4, +Inf
    assert samples["h_seconds_sum"] == [({"m": "a"}, 106.0)] and samples["h_seconds_count"] == [({"m": "a"}, 4.0)]


def test_many_users_and_junk_models_leave_every_metric_within_the_cap() -> None:
    """22,000 calls: 20,000 users and 2,000 junk model names (WARDGATE_CARDINALITY_N=110000 for the issue's 100k
    users and 10k junk names)."""
    n = int(os.environ.get("WARDGATE_CARDINALITY_N", "22000"))
    metrics = RequestMetrics(["small"], max_series=20)
    deployment = Deployment(name="up/gpt-4o-mini", provider="up", upstream_model="gpt-4o-mini", adapter=None)  # type: ignore[arg-type]
    for i in range(n):
        junk = i % 11 == 0  # 10,000 junk model names, refused before any deployment
        call = Call(f"{i:024x}", "openai", "chat", f"junk-{i}" if junk else "small", {}, i % 3 == 0, None, 0.0)
        call.principal = Principal(kind="key", id=f"k{i}", project=f"p{i % 40}", user=f"user-{i}")
        if not junk:
            call.deployment = deployment
            call.usage = Usage(input_tokens=i % 50 + 1, output_tokens=i % 7 + 2)
            call.first_token_at = 0.01 if call.stream else None
        metrics.record(call, "openai", 404 if junk else 200, "invalid_request_error" if junk else None, 5, 0.1, 0.2)
    for family in metrics.families:
        assert len(family.series) <= 21, family.name
    text = render(metrics.samples()).decode()
    assert "junk-" not in text and "user-" not in text
    tokens = sum(v for _, v in parse(text)[1]["wardgate_tokens_total"])
    assert tokens == sum(i % 50 + 1 + i % 7 + 2 for i in range(n) if i % 11)
