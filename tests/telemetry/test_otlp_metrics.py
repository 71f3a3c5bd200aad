"""The OTLP metric export (telemetry/metric_export.py, otlp_metrics.py): its bytes are the opentelemetry-proto
messages' bytes; through a real gateway and a real receiver that decodes the protobuf, the GenAI metrics follow the
pinned semconv definitions (names, units, descriptions and instrument types as the SDK makes them from the pinned
package, the convention's buckets, the required attributes) and agree exactly with ``/metrics``, series by series,
the `other` series of a full metric included; a collector that is down or hangs costs the requests nothing."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import anthropic
import httpx
import openai
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as gm

from tests.fakes.openai import FakeOpenAI
from tests.fakes.otlp import FakeOTLP, ReceivedPoint
from tests.limits.test_replicas import free_port
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from tests.telemetry.test_metrics import parse
from tests.telemetry.test_otlp_wire import _set
from wardgate.config import ConfigError, load_config_text
from wardgate.core.call import Call
from wardgate.core.deployment import Deployment
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage
from wardgate.observability.bounded import OTHER, CappedHistogram
from wardgate.telemetry import semconv
from wardgate.telemetry.metric_export import MetricExport
from wardgate.telemetry.metrics import ExportedMetric, RequestMetrics, prometheus_name
from wardgate.telemetry.otlp_metrics import MetricEncoder

MESSAGES: list[Any] = [{"role": "user", "content": "count me"}]
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
GENAI = {
    semconv.TOKEN_USAGE: (gm.create_gen_ai_client_token_usage, semconv.TOKEN_BUCKETS),
    semconv.OPERATION_DURATION: (gm.create_gen_ai_client_operation_duration, semconv.DURATION_BUCKETS),
    semconv.TIME_TO_FIRST_TOKEN: (gm.create_gen_ai_server_time_to_first_token, semconv.TTFT_BUCKETS),
    semconv.TIME_PER_OUTPUT_TOKEN: (gm.create_gen_ai_server_time_per_output_token, semconv.TPOT_BUCKETS),
}


def reference(
    metrics: Sequence[ExportedMetric], resource: Mapping[str, Any], scope: str, start: int, now: int
) -> ExportMetricsServiceRequest:
    """The request built field by field with the message classes."""
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    for key, value in resource.items():
        _set(resource_metrics.resource.attributes.add(key=key).value, value)
    scoped = resource_metrics.scope_metrics.add()
    scoped.scope.name = scope
    for m in metrics:
        if not m.family.series:
            continue
        metric = scoped.metrics.add(name=m.name, description=m.description, unit=m.unit)
        family = m.family
        for values, slot in family.series.items():
            attributes = [(k, v) for k, v in zip(m.attributes, values, strict=True) if v]
            if isinstance(family, CappedHistogram):
                metric.histogram.aggregation_temporality = CUMULATIVE
                point: Any = metric.histogram.data_points.add(
                    start_time_unix_nano=start,
                    time_unix_nano=now,
                    count=int(slot[-1]),
                    sum=slot[-2],
                    bucket_counts=[int(n) for n in slot[:-2]],
                    explicit_bounds=family.buckets,
                )
            else:
                metric.sum.aggregation_temporality = CUMULATIVE
                metric.sum.is_monotonic = True
                point = metric.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=now)
                if family.scale == 1.0:
                    point.as_int = int(slot[0])
                else:
                    point.as_double = slot[0] * family.scale
            for key, value in attributes:
                _set(point.attributes.add(key=key).value, value)
    return request


def recorded(rng: random.Random, metrics: RequestMetrics, n: int) -> None:
    deployments = [
        Deployment(name=f"up/m{i}", provider="up", upstream_model=f"m{i}", adapter=None)  # type: ignore[arg-type]
        for i in range(4)
    ]
    for i in range(n):
        model = rng.choice(["small", "vec", "junk"])
        call = Call(f"{i:024x}", "openai", rng.choice(["chat", "embeddings"]), model, {}, rng.random() < 0.5, None, 0.0)
        call.principal = Principal(kind="key", id=f"k{i}", project=rng.choice(["a", "b", None]), user=f"u{i}")
        failed = rng.random() < 0.2
        if not failed:
            call.deployment = rng.choice(deployments)
            call.usage = Usage(
                input_tokens=rng.randrange(0, 5000),
                output_tokens=rng.randrange(0, 3000),
                cached_tokens=rng.randrange(0, 3),
                reasoning_tokens=rng.randrange(0, 2),
            )
            call.first_token_at = rng.random() if call.stream else None
        error = rng.choice(["timeout", "invalid_request_error"]) if failed else None
        cost = rng.randrange(0, 10**7)
        metrics.record(call, "openai", 500 if failed else 200, error, cost, rng.random() * 30, 2.0 + rng.random())


@pytest.mark.parametrize("max_series", [1, 5, 1000])
def test_the_wire_bytes_are_the_messages_bytes_for_any_series(max_series: int) -> None:
    rng = random.Random(max_series)
    metrics = RequestMetrics(["small", "vec"], max_series)
    resource = {"service.name": "wardgate-test", "service.instance.id": "4c2e", "telemetry.sdk.version": "1.45.2"}
    encoder = MetricEncoder(resource, "wardgate", metrics.exported)
    for n in (0, 1, 300):  # empty, one call, many (caps reached, `other` series); the attribute caches kept between
        recorded(rng, metrics, n)
        fields = [encoder.metric_field(i, 1_000, 2_000)[0] for i in range(len(metrics.exported))]
        data = encoder.request([f for f in fields if f])
        expected = reference(metrics.exported, resource, "wardgate", 1_000, 2_000)
        parsed = ExportMetricsServiceRequest()
        parsed.ParseFromString(data)
        assert parsed == expected
        assert data == expected.SerializeToString()


def sdk_definition(create: Any) -> tuple[str, str, str, type]:
    """(name, unit, description, point type) of a semconv metric as the OpenTelemetry SDK makes it from the pinned
    package's ``create_*`` function."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    create(provider.get_meter("check")).record(1)
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
    provider.shutdown()
    return metric.name, metric.unit or "", metric.description or "", type(metric.data)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up", cached_tokens=2, reasoning_tokens=1).start() as fake:
        yield fake


@pytest.fixture
def collector() -> Iterator[FakeOTLP]:
    with FakeOTLP().start() as fake:
        yield fake


def gateway(upstream: FakeOpenAI, endpoint: str, extra: str = "") -> RunningGateway:
    return gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1.5, output: 2.25}}}}]
  mini: [{{provider: up, model: gpt-4.1-mini, price: {{input: 1, output: 2}}}}]
  vec: [{{provider: up, model: text-embedding-3-small, price: {{input: 0.02, output: 0}}}}]
telemetry:
  otlp_endpoint: {endpoint}
  service_name: wardgate-test
{extra}
""")


def export_of(gw: RunningGateway) -> MetricExport:
    stage = gw.worker.telemetry
    assert stage is not None and stage.metric_export is not None
    return stage.metric_export


def drive(gw: RunningGateway) -> None:
    """Chat, stream, embeddings and /v1/messages, on two models, and refusals."""
    with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
        for model in ("small", "mini"):
            client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=5)
            stream = client.chat.completions.create(
                model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            assert [c for c in stream]
        client.embeddings.create(model="vec", input="hello")
        for i in range(2):
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model=f"typo-{i}", messages=MESSAGES)
    with anthropic.Anthropic(base_url=gw.root, api_key=MASTER_KEY, max_retries=0) as claude:
        claude.messages.create(model="small", max_tokens=9, messages=[{"role": "user", "content": "hi"}])


def prometheus_view(points: list[ReceivedPoint]) -> dict[tuple[str, frozenset[tuple[str, str]]], tuple[Any, ...]]:
    """The received data points as OpenTelemetry's Prometheus naming shows them (dots to underscores, the unit
    suffix, `_total` on a monotonic sum): series → (count, sum, cumulative buckets) or (value,)."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], tuple[Any, ...]] = {}
    for p in points:
        labels = frozenset((k.replace(".", "_"), str(v)) for k, v in p.attributes.items())
        if p.kind == "histogram":
            running, cumulative = 0, []
            for n in p.bucket_counts:
                running += n
                cumulative.append(float(running))
            out[(prometheus_name(p.name, p.unit), labels)] = (float(p.count), p.sum, tuple(cumulative))
        else:
            out[(p.name + "_total", labels)] = (float(p.value or 0),)
    assert len(out) == len(points)  # no two points are one series
    return out


def scraped_view(text: str, names: set[str]) -> dict[tuple[str, frozenset[tuple[str, str]]], tuple[Any, ...]]:
    """The same from /metrics (a label whose value is empty is a label left out, as Prometheus reads it)."""
    types, samples = parse(text)
    out: dict[tuple[str, frozenset[tuple[str, str]]], tuple[Any, ...]] = {}
    for name in names:
        if types.get(name) == "histogram":
            buckets: dict[frozenset[tuple[str, str]], list[float]] = {}
            for labels, value in samples[name + "_bucket"]:
                key = frozenset((k, v) for k, v in labels.items() if v and k != "le")
                buckets.setdefault(key, []).append(value)
            sums = {frozenset((k, v) for k, v in labels.items() if v): v_ for labels, v_ in samples[name + "_sum"]}
            for labels, count in samples[name + "_count"]:
                key = frozenset((k, v) for k, v in labels.items() if v)
                out[(name, key)] = (count, sums[key], tuple(buckets[key]))
        else:
            for labels, value in samples[name]:
                out[(name, frozenset((k, v) for k, v in labels.items() if v))] = (value,)
    return out


def test_chat_stream_embeddings_and_messages_metrics_follow_semconv_and_agree_with_metrics(
    upstream: FakeOpenAI, collector: FakeOTLP
) -> None:
    with gateway(upstream, collector.root_url, "  metrics: {max_series: 3}") as gw:
        drive(gw)
        export = export_of(gw)
        assert gw.run(export.export())
        text = httpx.get(gw.root + "/metrics").text  # nothing ran in between: the same state
    (instance,) = collector.latest()
    points = collector.latest()[instance]
    resource = points[0].resource
    assert resource["service.name"] == "wardgate-test" and len(instance) == 36  # a UUID of the worker's own
    by_name: dict[str, list[ReceivedPoint]] = {}
    for p in points:
        by_name.setdefault(p.name, []).append(p)
        assert p.temporality == CUMULATIVE and p.resource == resource and p.scope == "wardgate"
        assert p.start_ns == export.start_ns and p.time_ns >= p.start_ns
    # (a) the GenAI metrics as the pinned semconv package defines them, with the convention's buckets
    assert set(GENAI) <= set(by_name)
    for name, (create, buckets) in GENAI.items():
        expected_name, unit, description, data_type = sdk_definition(create)
        assert data_type is Histogram and expected_name == name
        for p in by_name[name]:
            assert (p.kind, p.unit, p.description) == ("histogram", unit, description)
            assert p.bounds == [float(b) for b in buckets] and len(p.bucket_counts) == len(buckets) + 1
            assert sum(p.bucket_counts) == p.count > 0
            required = {semconv.OPERATION_NAME, semconv.PROVIDER_NAME, semconv.REQUEST_MODEL}
            assert required <= set(p.attributes), (name, p.attributes)
            if name == semconv.TOKEN_USAGE:
                assert p.attributes[semconv.TOKEN_TYPE] in {"input", "output", OTHER}
    operations = {p.attributes[semconv.OPERATION_NAME] for p in points if p.name == semconv.OPERATION_DURATION}
    assert {"chat", "embeddings"} <= operations | {OTHER}
    errors = [p for p in by_name[semconv.OPERATION_DURATION] if semconv.ERROR_TYPE in p.attributes]
    assert errors and all(p.attributes[semconv.ERROR_TYPE] for p in errors)  # the refusals; never an empty one
    assert any(p.attributes[semconv.REQUEST_MODEL] == OTHER for p in points)  # the cap of 3 was reached
    assert all(not p.monotonic and p.kind == "histogram" for p in points if p.name.startswith("gen_ai."))
    assert all(p.monotonic and p.kind == "sum" for p in points if p.name.startswith("wardgate_"))
    # (b) the same series with the same counts, sums and buckets as /metrics
    exported = prometheus_view(points)
    assert exported == scraped_view(text, {name for name, _ in exported})
    assert {name for name, _ in exported} >= {
        "gen_ai_client_token_usage",
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_server_time_to_first_token_seconds",
        "gen_ai_server_time_per_output_token_seconds",
        "wardgate_requests_total",
        "wardgate_tokens_total",
        "wardgate_spend_usd_total",
    }
    assert f"wardgate_otlp_metrics_exported_total {len(points)}" in text
    assert "wardgate_otlp_metrics_dropped_total 0" in text


def test_exports_are_cumulative_and_the_last_leaves_at_shutdown(upstream: FakeOpenAI, collector: FakeOTLP) -> None:
    with gateway(upstream, collector.root_url) as gw, openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY) as client:
        client.chat.completions.create(model="small", messages=MESSAGES)
        assert gw.run(export_of(gw).export())
        client.chat.completions.create(model="small", messages=MESSAGES)
        assert gw.run(export_of(gw).export())
    requests = [
        (p.export, p.value, p.start_ns) for p in collector.points if p.name == "wardgate_requests"
    ]  # one series: model small, status 200; the third export is the worker's last, at shutdown
    assert [(e, v) for e, v, _ in requests] == [(0, 1), (1, 2), (2, 2)] and len({s for *_, s in requests}) == 1


def test_a_collector_that_is_down_drops_and_counts_with_one_warning(
    upstream: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="wardgate.telemetry")
    with gateway(upstream, closed, "  export_timeout_s: 1") as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            for _ in range(3):
                client.chat.completions.create(model="small", messages=MESSAGES)
            export = export_of(gw)
            assert not gw.run(export.export())
            first = export.exporter.dropped
            client.chat.completions.create(model="small", messages=MESSAGES)
            assert not gw.run(export.export())
        text = httpx.get(gw.root + "/metrics").text
    assert first > 0 and export.exporter.dropped == 2 * first and export.exporter.exported == 0
    assert f"wardgate_otlp_metrics_dropped_total {2 * first}" in text
    warned = [r for r in caplog.records if "metric data points are dropped" in r.getMessage()]
    assert len(warned) == 1  # one per outage, not one per interval


def test_requests_are_served_while_an_export_waits_on_a_collector_that_hangs(upstream: FakeOpenAI) -> None:
    hanging = socket.socket()  # listens, never answers: the POST waits for export_timeout_s
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)
    endpoint = f"http://127.0.0.1:{hanging.getsockname()[1]}"
    try:
        with gateway(upstream, endpoint, "  export_timeout_s: 2") as gw:
            with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
                client.chat.completions.create(model="small", messages=MESSAGES)
                export = export_of(gw)
                loop = gw._loop
                assert loop is not None
                pending = asyncio.run_coroutine_threadsafe(export.export(), loop)
                for _ in range(10):
                    client.chat.completions.create(model="small", messages=MESSAGES)
                assert not pending.done()  # ten requests served while the export still waits
            assert pending.result(timeout=30) is False
            assert export.exporter.dropped > 0
    finally:
        hanging.close()


@pytest.mark.parametrize(
    ("metrics", "error"),
    [
        ("{export_interval_s: 0.5}", r"telemetry.metrics.export_interval_s"),
        ("{export_interval: 30}", r"telemetry.metrics.export_interval"),  # a typo'd key is an error, not ignored
    ],
)
def test_the_export_interval_is_checked_and_unknown_keys_stay_errors(metrics: str, error: str) -> None:
    text = f"master_key: {MASTER_KEY}\ntelemetry:\n  otlp_endpoint: http://127.0.0.1:4318\n  metrics: {metrics}\n"
    with pytest.raises(ConfigError, match=error):
        load_config_text(text)
    ok = load_config_text(f"master_key: {MASTER_KEY}\ntelemetry: {{metrics: {{export_interval_s: 15}}}}\n")
    assert ok.telemetry is not None and ok.telemetry.metrics.export_interval_s == 15
