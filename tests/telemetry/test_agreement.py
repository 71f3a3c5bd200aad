"""One seeded mixed run (JSON and streamed chats, cache hits, fall-backs after a failing deployment, refusals,
embeddings) and four views of it: spans, Prometheus counters, the analytics API and the ledger agree exactly on
tokens and cost. (The issue's 10,000-request run: set WARDGATE_AGREEMENT_N=10000.)"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import func, select

from tests.fakes.openai import FakeOpenAI
from tests.fakes.otlp import FakeOTLP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from tests.telemetry.test_metrics import parse
from wardgate.store.tables import usage_events
from wardgate.telemetry import semconv

N = int(os.environ.get("WARDGATE_AGREEMENT_N", "60"))


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up", cached_tokens=3, reasoning_tokens=2).start() as fake:
        yield fake


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeOTLP]:
    with FakeOTLP().start() as fake:
        yield fake


def gateway(upstream: FakeOpenAI, collector: FakeOTLP) -> RunningGateway:
    return gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 0.15, output: 0.6}}}}]
  cached:
    deployments: [{{provider: up, model: gpt-4o, price: {{input: 2.5, output: 10}}}}]
    cache: {{ttl_s: 600}}
  flaky:
    deployments: [{{provider: up, model: error-503, price: {{input: 1, output: 1}}}}]
    fallbacks: [small]
    retries: 0
  vec: [{{provider: up, model: text-embedding-3-small, price: {{input: 0.02, output: 0}}}}]
server: {{preload_tokenizers: false}}
telemetry:
  otlp_endpoint: {collector.root_url}
  export_queue: 100000
  metrics: {{max_series: 50}}
""")


def drive(gw: RunningGateway, rng: random.Random) -> None:
    with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
        for i in range(N):
            kind = rng.choice(["chat", "stream", "cached", "flaky", "refused", "embed"])
            text = [{"role": "user", "content": f"question {rng.randrange(8)}"}]
            if kind == "chat":
                client.chat.completions.create(model="small", messages=text, max_tokens=rng.randrange(1, 40))
            elif kind == "stream":
                assert [c for c in client.chat.completions.create(model="small", messages=text, stream=True)]
            elif kind == "cached":  # 8 distinct prompts: most are hits
                client.chat.completions.create(model="cached", messages=text)
            elif kind == "flaky":  # its deployment answers 503: falls back to small
                client.chat.completions.create(model="flaky", messages=text)
            elif kind == "refused":
                with pytest.raises(openai.NotFoundError):
                    client.chat.completions.create(model=f"nope-{i}", messages=text)
            else:
                client.embeddings.create(model="vec", input=f"text {i}")


def test_spans_counters_analytics_and_the_ledger_agree_to_the_token(upstream: FakeOpenAI, collector: FakeOTLP) -> None:
    with gateway(upstream, collector) as gw:
        drive(gw, random.Random(15))
        stage = gw.worker.telemetry
        assert stage is not None and stage.tracing is not None
        gw.run(stage.flush())
        gw.run(gw.worker.ledger.flush())
        metrics_text = httpx.get(gw.root + "/metrics").text
        analytics = httpx.get(
            gw.root + "/admin/v1/analytics",
            params={"metrics": "spend_usd,requests,tokens_in,tokens_out", "group_by": "model"},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        ).json()
        ledger = gw.run(_ledger(gw))
    # the ledger
    assert ledger["rows"] == N and ledger["input"] > 0 and ledger["cost"] > 0
    # spans: one root per ledger row, with its tokens and cost
    roots = [s for s in collector.spans if s.kind == 2]
    assert len(roots) == N
    span_sums: dict[str, int] = defaultdict(int)
    for s in roots:
        span_sums["input"] += s.attributes.get(semconv.INPUT_TOKENS, 0)
        span_sums["output"] += s.attributes.get(semconv.OUTPUT_TOKENS, 0)
        span_sums["cost"] += s.attributes.get("wardgate.cost_nanousd", 0)
    assert dict(span_sums) == {k: ledger[k] for k in ("input", "output", "cost")}
    # Prometheus counters
    _, samples = parse(metrics_text)
    tokens: dict[str, float] = defaultdict(float)
    for labels, value in samples["wardgate_tokens_total"]:
        tokens[labels["type"]] += value
    assert (tokens["input"], tokens["output"], tokens["cached"]) == (
        ledger["input"],
        ledger["output"],
        ledger["cached"],
    )
    assert sum(round(v * 1e9) for _, v in samples["wardgate_spend_usd_total"]) == ledger["cost"]
    # the analytics API
    rows = analytics["rows"]
    assert sum(r["tokens_in"] for r in rows) == ledger["input"]
    assert sum(r["tokens_out"] for r in rows) == ledger["output"]
    assert sum(r["cost_nanousd"] for r in rows) == ledger["cost"]
    assert sum(r["requests"] for r in rows) == N
    # the mix really had hits, fall-backs and refusals
    assert any(s.attributes.get("wardgate.cache") == "hit" for s in roots)
    assert any(s.attributes.get("wardgate.route.failed") for s in roots)
    assert any(s.status_code == 2 for s in roots)


async def _ledger(gw: RunningGateway) -> dict[str, Any]:
    c = usage_events.c
    async with gw.worker.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    func.count(),
                    func.sum(c.input_tokens),
                    func.sum(c.output_tokens),
                    func.sum(c.cached_tokens),
                    func.sum(c.cost_nanousd),
                )
            )
        ).one()
    return {"rows": row[0], "input": row[1], "output": row[2], "cached": row[3], "cost": row[4]}
