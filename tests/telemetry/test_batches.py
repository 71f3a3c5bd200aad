"""The telemetry stage's batches (decision 056): ``after`` only queues the ended call; its metrics and spans are made
on the event loop in steps of ``STEP`` calls with the loop free between them, and whoever reads a view first
(``/metrics``' collector, ``flush``) sees every call that has ended, to the token."""

from __future__ import annotations

import asyncio
import time

from wardgate.config.loader import load_config_text
from wardgate.config.telemetry import TelemetryConfig
from wardgate.core.call import Call, Result
from wardgate.core.deployment import Deployment, Timeouts
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage
from wardgate.telemetry import stage as stage_module
from wardgate.telemetry.metrics import RequestMetrics
from wardgate.telemetry.stage import STEP, TelemetryStage
from wardgate.telemetry.tracing import Tracing
from wardgate.usage.cost import cost_function

CONFIG = """
master_key: sk-test-master-key
providers:
  up: {type: openai, base_url: http://127.0.0.1:9/v1, api_key: sk-x}
models:
  small:
    - {provider: up, model: gpt-4o-mini, price: {input: 1, output: 2}}
"""
DEPLOYMENT = Deployment(
    name="up/gpt-4o-mini",
    provider="up",
    upstream_model="gpt-4o-mini",
    adapter=None,  # type: ignore[arg-type]
    timeouts=Timeouts(connect=1, first_byte=1, total=1),
    weight=1,
)
PRINCIPAL = Principal(kind="key", id="k1", project="p1", team="t1", user="u1")


class Sent:
    def __init__(self) -> None:
        self.batches: list[bytes] = []

    async def __call__(self, data: bytes) -> bool:
        self.batches.append(data)
        return True


def stage_with(sent: Sent) -> TelemetryStage:
    tracing = Tracing(TelemetryConfig(otlp_endpoint="http://127.0.0.1:9", export_queue=10_000), sent)
    return TelemetryStage(RequestMetrics(["small"], 100), cost_function(load_config_text(CONFIG)), {}, tracing=tracing)


async def end_call(stage: TelemetryStage, i: int) -> None:
    call = Call(f"req-{i}", "openai", "chat", "small", {"max_tokens": 5}, False, None, time.perf_counter())
    call.principal = PRINCIPAL
    await stage.before(call)
    assert call.trace is not None
    call.trace.attempt(call, DEPLOYMENT)
    call.deployment = DEPLOYMENT
    call.usage = Usage(input_tokens=10 + i, output_tokens=3)
    await stage.after(call, Result(raw=b"{}"), None)


def counted(stage: TelemetryStage) -> dict[str, float]:
    out: dict[str, float] = {}
    for sample in stage.metrics.samples():
        if sample.name in ("wardgate_requests_total", "wardgate_tokens_total"):
            key = sample.name + sample.labels.get("type", "")
            out[key] = out.get(key, 0) + sample.value
    return out


async def test_a_batch_runs_in_steps_with_the_loop_free_between_them() -> None:
    stage = stage_with(Sent())
    n = 3 * STEP + 5
    for i in range(n):
        await end_call(stage, i)  # nothing here yields: every call is queued, none processed yet
    assert counted(stage) == {}
    seen: list[dict[str, float]] = []
    asyncio.get_running_loop().call_soon(lambda: seen.append(counted(stage)))  # another callback, queued now
    await stage.process()
    assert 0 < seen[0]["wardgate_requests_total"] < n  # it ran between two steps
    assert counted(stage) == {
        "wardgate_requests_total": n,
        "wardgate_tokens_totalinput": sum(10 + i for i in range(n)),
        "wardgate_tokens_totaloutput": 3 * n,
    }


async def test_the_collector_and_flush_see_every_ended_call() -> None:
    sent = Sent()
    stage = stage_with(sent)
    for i in range(5):  # fewer than a batch: they would wait for the timer
        await end_call(stage, i)
    samples = list(await stage.collector()())
    assert sum(s.value for s in samples if s.name == "wardgate_requests_total") == 5
    await stage.flush()
    assert stage.tracing is not None and stage.tracing.exporter.exported == 10  # a SERVER and a CLIENT span each
    assert len(sent.batches) == 1
    await stage.close()


async def test_a_full_batch_is_processed_without_a_reader_and_close_sends_its_spans() -> None:
    sent = Sent()
    stage = stage_with(sent)
    for i in range(stage_module.BATCH):
        await end_call(stage, i)
    await asyncio.sleep(0)  # one loop step: no timer, no reader
    assert counted(stage)["wardgate_requests_total"] == stage_module.BATCH
    await stage.close()
    assert stage.tracing is not None and stage.tracing.exporter.exported == 2 * stage_module.BATCH
