"""``SpanWriter.fields`` (decision 066) writes, call by call, the bytes ``WireEncoder.span_field`` gives for each of
``SpanBuilder.records``: for random calls (a parent or none, usage or none, numbers of every width and type, errors,
retries, fall-backs, steps, prompts, routes, odd strings), whatever the caches hold."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from wardgate.config.telemetry import TelemetryConfig
from wardgate.core.call import Call, PromptUse, RouteDecision
from wardgate.core.deployment import Deployment, Timeouts
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage
from wardgate.telemetry import otlp_wire, span_wire, spans
from wardgate.telemetry.context import CallSpans
from wardgate.telemetry.otlp_wire import WireEncoder
from wardgate.telemetry.span_wire import SpanWriter
from wardgate.telemetry.spans import SpanBuilder
from wardgate.telemetry.tracing import Tracing

RESOURCE = {"service.name": "wardgate-test"}
INCOMING = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def deployment(i: int) -> Deployment:
    return Deployment(
        name=f"up{i}/gpt-4o-mini",
        provider=f"up{i}",
        upstream_model=["gpt-4o-mini", "gpt-4o", "m\u00e9"][i % 3],
        adapter=None,  # type: ignore[arg-type]
        timeouts=Timeouts(connect=1, first_byte=1, total=1),
        weight=1,
    )


DEPLOYMENTS = [deployment(i) for i in range(3)]
NUMBERS: list[Any] = [0, 1, 127, 128, 16_383, 16_384, 2**40, 2**63 - 1, -1, -(2**40), 0.0, 0.7, -2.5, 1e300, True]


def number(rng: random.Random) -> Any:
    return rng.choice([*NUMBERS, rng.randrange(0, 100_000), rng.random() * 2])


def random_call(rng: random.Random, tracing: Tracing, i: int) -> tuple[Call, CallSpans, int, str | None, int | None]:
    body: dict[str, Any] = {"messages": []}
    for key in ("max_tokens", "temperature"):
        if rng.random() < 0.8:
            body[key] = rng.choice([number(rng), "high", None])
    request_id = rng.choice([f"req-{i:024x}", f"r\u00e9q-{i}", "x" * rng.choice([1, 200, 20_000]), f"bad-\ud800-{i}"])
    call = Call(request_id, rng.choice(["openai", "anthropic"]), rng.choice(["chat", "embeddings"]),
                rng.choice(["small", "junk-model", "m" * 300]), body, rng.random() < 0.5, None,
                time.perf_counter() - rng.random())  # fmt: skip
    if rng.random() < 0.3:
        call.request_headers = [(b"traceparent", INCOMING)]
    if rng.random() < 0.9:
        call.principal = Principal(kind="key", id="k", project=rng.choice(["p1", "p2"]), team=rng.choice([None, "t"]),
                                   user=rng.choice([None, "u"]))  # fmt: skip
    trace = CallSpans(tracing, call)
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        trace.attempt(call, rng.choice(DEPLOYMENTS))
        if rng.random() < 0.5:
            trace.attempt_failed(rng.choice(["timeout", "rate_limit", ""]))
    if rng.random() < 0.3:
        trace.step("guard", time.perf_counter() - 0.01, {"wardgate.guard": rng.choice(["pii", "secrets"])})
    if rng.random() < 0.8:
        call.deployment = rng.choice(DEPLOYMENTS)
    if rng.random() < 0.85:
        call.usage = Usage(input_tokens=rng.choice([0, 5, 300, 20_000, 2**40]), output_tokens=rng.randrange(0, 5000),
                           cached_tokens=rng.choice([0, 2]), cache_write_tokens=rng.choice([0, 7]),
                           reasoning_tokens=rng.choice([0, 16_384]))  # fmt: skip
        call.usage_estimated = rng.random() < 0.2
    if rng.random() < 0.3:
        call.first_token_at = call.started + rng.random()
    if rng.random() < 0.2:
        call.prompt = PromptUse(name="support", version="v3", variant=rng.choice(["control", "canary"]))
    if rng.random() < 0.4:
        failed = tuple(rng.sample(["up1/gpt-4o-mini:timeout", "up2/m:rate_limit"], rng.randrange(0, 3)))
        call.route = RouteDecision("weighted", "up0/gpt-4o-mini", rng.randrange(1, 4), failed=failed)
    call.cache_status = rng.choice([None, "miss", "hit"])
    status, error_type = rng.choice(
        [(200, None), (200, None), (504, "upstream_timeout"), (499, "client_closed"), (500, "")]
    )
    cost = rng.choice([None, 0, 12_345, 2**50, -5])
    return call, trace, status, error_type, cost


def check(rng: random.Random, builder: SpanBuilder, n: int) -> None:
    tracing = Tracing(TelemetryConfig(otlp_endpoint="http://127.0.0.1:9"), lambda data: None)  # type: ignore[arg-type,return-value]
    writer = SpanWriter(builder, WireEncoder(RESOURCE, "wardgate"))
    reference = WireEncoder(RESOURCE, "wardgate")
    for i in range(n):
        call, trace, status, error_type, cost = random_call(rng, tracing, i)
        end_ns, now = time.time_ns(), time.perf_counter()
        random.seed(i)  # a step's span id is random: the same for both
        records = builder.records(call, trace, status, error_type, cost, end_ns, now, None)
        expected = [reference.span_field(r) for r in records]
        random.seed(i)
        assert writer.fields(call, trace, status, error_type, cost, end_ns, now) == expected, i


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("latest", [False, True])
def test_the_writer_writes_the_bytes_of_the_records_encoded_one_by_one(seed: int, latest: bool) -> None:
    providers = {"up0": "openai", "up1": "azure.ai.openai"}
    check(random.Random(seed), SpanBuilder(providers, lambda m: m if m == "small" else "unknown", False, latest), 400)


def test_full_caches_are_emptied_and_write_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp_wire, "MAX_CACHED", 3)
    monkeypatch.setattr(span_wire, "MAX_CACHED", 3)
    monkeypatch.setattr(spans, "MAX_SHAPES", 3)
    check(random.Random(7), SpanBuilder({}, lambda m: m, False, False), 300)
