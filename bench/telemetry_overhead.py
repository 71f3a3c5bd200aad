"""The telemetry stage's cost per request, in microseconds of CPU (every thread of the process), without network.

    .venv/bin/python bench/telemetry_overhead.py            # 20,000 calls per case
    .venv/bin/python bench/telemetry_overhead.py --n 5000

Each case runs the stage's hooks as the pipeline does for one answered chat call (``before``, one upstream attempt,
``after``) on a Call with a principal, a deployment and usage. "spans" also encodes every span to OTLP protobuf in the
stage's batches (the request exactly as it would be sent, then dropped: the HTTP POST of a 1,024-span batch is left
out). Compare the figures with the full path's CPU per request in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from wardgate.config.loader import load_config_text
from wardgate.config.telemetry import TelemetryConfig
from wardgate.core.call import Call, Result
from wardgate.core.deployment import Deployment, Timeouts
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage
from wardgate.telemetry.metrics import RequestMetrics
from wardgate.telemetry.stage import TelemetryStage
from wardgate.telemetry.tracing import Tracing
from wardgate.usage.cost import cost_function


class EncodingExporter:
    """Takes each encoded batch as the collector would, without the network."""

    def __init__(self) -> None:
        self.bytes = 0

    async def __call__(self, data: bytes) -> bool:
        self.bytes += len(data)
        return True


CONFIG = """
master_key: sk-bench-master-key
providers:
  up: {type: openai, base_url: http://127.0.0.1:9/v1, api_key: sk-x}
models:
  small:
    - {provider: up, model: gpt-4o-mini}
"""
DEPLOYMENT = Deployment(
    name="up/gpt-4o-mini",
    provider="up",
    upstream_model="gpt-4o-mini",
    adapter=None,  # type: ignore[arg-type]
    timeouts=Timeouts(connect=1, first_byte=1, total=1),
    weight=1,
)
# the real pricing (the catalog's gpt-4o-mini), as the ledger computes it: the stage prices every call it records
COST_OF = cost_function(load_config_text(CONFIG))
PRINCIPAL = Principal(kind="key", id="k1", project="p1", team="t1", user="u1")


def make_call(i: int) -> Call:
    call = Call(
        f"{i:024x}", "openai", "chat", "small", {"model": "small", "messages": []}, False, None, time.perf_counter()
    )
    call.principal = PRINCIPAL
    call.request_headers = [(b"host", b"x"), (b"content-type", b"application/json"), (b"authorization", b"Bearer x")]
    return call


async def run(stage: TelemetryStage | None, n: int) -> float:
    result = Result(raw=b"{}")
    gc.collect()
    start = time.process_time()
    for i in range(n):
        call = make_call(i)
        if stage is not None:
            await stage.before(call)
            if call.trace is not None:
                call.trace.attempt(call, DEPLOYMENT)
        call.deployment = DEPLOYMENT
        call.usage = Usage(input_tokens=20, output_tokens=30, cached_tokens=4)
        COST_OF(call)  # accounting prices the call before telemetry's after hook (in the floor too)
        if stage is not None:
            await stage.after(call, result, None)
    if stage is not None:
        await stage.flush()  # the batches' metrics, spans and encoding (the POST itself is left out)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    config = TelemetryConfig(otlp_endpoint="http://127.0.0.1:9", export_queue=args.n * 3)
    metrics_only = TelemetryStage(RequestMetrics(["small"], 2000), COST_OF, {"up": "openai"})
    exporter = EncodingExporter()
    tracing = Tracing(config, exporter)
    spans = TelemetryStage(RequestMetrics(["small"], 2000), COST_OF, {"up": "openai"}, tracing=tracing)
    sampled_config = TelemetryConfig(otlp_endpoint="http://127.0.0.1:9", export_queue=args.n * 3, sample_ratio=0.1)
    sampled = TelemetryStage(
        RequestMetrics(["small"], 2000),
        COST_OF,
        {"up": "openai"},
        tracing=Tracing(sampled_config, EncodingExporter()),
    )
    floor = asyncio.run(run(None, args.n))
    cases = (("metrics only", metrics_only), ("spans + metrics", spans), ("10% sampled", sampled))
    for name, stage in cases:
        cost = asyncio.run(run(stage, args.n)) - floor
        print(f"{name:>16}: {cost:7.1f} µs CPU per request")
    print(f"(loop floor {floor:.1f} µs; {tracing.exporter.exported} spans encoded, {exporter.bytes} bytes)")


if __name__ == "__main__":
    main()
