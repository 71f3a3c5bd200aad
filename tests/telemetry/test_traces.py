"""Spans through a real gateway, exported over OTLP/HTTP to a real receiver on loopback that
decodes the protobuf: GenAI semconv attributes, traceparent in and out, token counts equal to the ledger's, content
only when asked for, and a collector that is down costs the requests nothing but dropped spans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from sqlalchemy import select

from tests.fakes.openai import FakeOpenAI
from tests.fakes.otlp import FakeOTLP, ReceivedSpan
from tests.limits.test_replicas import free_port
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.tables import usage_events
from wardgate.telemetry import semconv
from wardgate.telemetry.stage import TelemetryStage

SERVER, CLIENT = 2, 3  # the proto's SpanKind values
INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"
MESSAGES: list[Any] = [{"role": "user", "content": "the secret plan is tea"}]


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
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 2}}}}]
  vec: [{{provider: up, model: text-embedding-3-small, price: {{input: 1, output: 0}}}}]
telemetry:
  otlp_endpoint: {endpoint}
  service_name: wardgate-test
{extra}
""")


def stage_of(gw: RunningGateway) -> TelemetryStage:
    stage = gw.worker.telemetry
    assert stage is not None and stage.tracing is not None
    return stage


def flushed(gw: RunningGateway) -> None:
    """Spans are built in the stage's batches and sent on the gateway's loop: flush them, and the ledger."""
    gw.run(stage_of(gw).flush())
    gw.run(gw.worker.ledger.flush())


def ledger(gw: RunningGateway) -> dict[str, dict[str, Any]]:
    async def read() -> dict[str, dict[str, Any]]:
        async with gw.worker.engine.connect() as conn:
            rows = (await conn.execute(select(usage_events))).mappings().all()
        return {row["request_id"]: dict(row) for row in rows}

    return gw.run(read())


def roots(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.attributes["wardgate.request_id"]: s for s in spans if s.kind == SERVER}


def test_chat_stream_embeddings_and_messages_spans_follow_genai_semconv_and_match_the_ledger(
    upstream: FakeOpenAI, collector: FakeOTLP
) -> None:
    traceparent = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"
    with gateway(upstream, collector.root_url) as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            chat = client.chat.completions.with_raw_response.create(
                model="small", messages=MESSAGES, max_tokens=7, extra_headers={"traceparent": traceparent}
            )
            stream = client.chat.completions.create(
                model="small", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            streamed = [c for c in stream]
            client.embeddings.create(model="vec", input="hello")
        with anthropic.Anthropic(base_url=gw.root, api_key=MASTER_KEY, max_retries=0) as claude:
            claude.messages.create(model="small", max_tokens=9, messages=[{"role": "user", "content": "hi"}])
        flushed(gw)
        rows = ledger(gw)
    assert streamed
    spans = collector.spans
    requests = roots(spans)
    assert set(requests) == set(rows) and len(rows) == 4
    by_operation = {
        (s.attributes["wardgate.surface"], s.attributes[semconv.OPERATION_NAME]): s for s in requests.values()
    }
    assert (
        set(by_operation) == {("openai", "chat"), ("openai", "embeddings"), ("anthropic", "chat")}
        or len(by_operation) == 3
    )
    for request_id, root in requests.items():
        row = rows[request_id]
        attrs = root.attributes
        assert root.service == "wardgate-test"
        assert attrs[semconv.PROVIDER_NAME] == "openai"
        assert attrs[semconv.REQUEST_MODEL] == row["model"]
        assert attrs[semconv.RESPONSE_MODEL] == row["deployment"].split("/", 1)[1]
        # to the token, and to the nano-dollar: the span and the ledger row come from the same values
        assert attrs[semconv.INPUT_TOKENS] == row["input_tokens"]
        assert attrs[semconv.OUTPUT_TOKENS] == row["output_tokens"]
        assert attrs[semconv.CACHE_READ_TOKENS] == row["cached_tokens"]
        assert attrs[semconv.REASONING_TOKENS] == row["reasoning_tokens"]
        assert attrs["wardgate.cost_nanousd"] == row["cost_nanousd"]
        assert root.status_code != 2
        # one CLIENT child per upstream attempt, named "{operation} {upstream model}"
        children = [s for s in spans if s.parent_span_id == root.span_id]
        assert [c.kind for c in children] == [CLIENT]
        assert children[0].name == f"{attrs[semconv.OPERATION_NAME]} {attrs[semconv.RESPONSE_MODEL]}"
        assert children[0].trace_id == root.trace_id
        # nothing of the prompt or the answer: capture_content is off by default
        assert semconv.INPUT_MESSAGES not in attrs and semconv.OUTPUT_MESSAGES not in attrs
        assert not any("secret plan" in str(v) for s in spans for v in s.attributes.values())
    # the incoming traceparent is continued …
    chat_root = requests[chat.headers["x-request-id"]]
    assert chat_root.trace_id == INCOMING_TRACE and chat_root.parent_span_id == INCOMING_PARENT
    assert chat_root.attributes[semconv.REQUEST_MAX_TOKENS] == 7
    # … and the attempt's own context is sent upstream
    attempts = {s.span_id: s for s in spans if s.kind == CLIENT}
    sent = [r.headers["traceparent"] for r in upstream.requests[-4:]]
    assert all(tp.split("-")[2] in attempts for tp in sent)
    assert any(tp.split("-")[1] == INCOMING_TRACE for tp in sent)
    assert all(s.attributes.get(semconv.SYSTEM) == "openai" for s in attempts.values())  # no opt-in: both names


def test_capture_content_puts_the_prompt_and_the_answer_in_the_span(upstream: FakeOpenAI, collector: FakeOTLP) -> None:
    with gateway(upstream, collector.root_url, "  capture_content: true") as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            answer = client.chat.completions.create(model="small", messages=MESSAGES)
        flushed(gw)
    (root,) = roots(collector.spans).values()
    assert "the secret plan is tea" in root.attributes[semconv.INPUT_MESSAGES]
    assert answer.choices[0].message.content in root.attributes[semconv.OUTPUT_MESSAGES]


def test_the_latest_experimental_opt_in_drops_the_old_provider_key(
    upstream: FakeOpenAI, collector: FakeOTLP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(semconv.OPT_IN_ENV, "http, gen_ai_latest_experimental")
    with gateway(upstream, collector.root_url) as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            client.chat.completions.create(model="small", messages=MESSAGES)
        flushed(gw)
    assert collector.spans and all(semconv.SYSTEM not in s.attributes for s in collector.spans)
    assert any(s.attributes.get(semconv.PROVIDER_NAME) == "openai" for s in collector.spans)


def test_a_malformed_traceparent_starts_a_new_trace(upstream: FakeOpenAI, collector: FakeOTLP) -> None:
    with gateway(upstream, collector.root_url) as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            client.chat.completions.create(
                model="small", messages=MESSAGES, extra_headers={"traceparent": "00-zz-" + "x" * 400}
            )
        flushed(gw)
    (root,) = roots(collector.spans).values()
    assert root.parent_span_id == "" and len(root.trace_id) == 32


def test_an_error_is_a_span_with_its_error_type(upstream: FakeOpenAI, collector: FakeOTLP) -> None:
    with gateway(upstream, collector.root_url) as gw:
        with (
            openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client,
            pytest.raises(openai.NotFoundError),
        ):
            client.chat.completions.create(model="no-such-model-" + "x" * 500, messages=MESSAGES)
        flushed(gw)
    (root,) = roots(collector.spans).values()
    assert root.status_code == 2 and root.attributes[semconv.ERROR_TYPE] == "invalid_request_error"
    assert root.name == "chat unknown"  # a client's model name never names a span
    assert len(root.attributes[semconv.REQUEST_MODEL]) == 256


def test_a_collector_that_is_down_drops_spans_and_slows_nothing(upstream: FakeOpenAI) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with gateway(upstream, closed, "  export_timeout_s: 1") as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            for _ in range(3):
                client.chat.completions.create(model="small", messages=MESSAGES)
        stage = stage_of(gw)
        assert stage.tracing is not None
        gw.run(stage.flush())
        assert stage.tracing.exporter.dropped >= 1 and stage.tracing.exporter.exported == 0
        metrics = httpx.get(gw.root + "/metrics").text
    assert "wardgate_otlp_spans_dropped_total" in metrics


def test_a_sampled_out_request_exports_nothing_but_still_propagates_its_trace(
    upstream: FakeOpenAI, collector: FakeOTLP
) -> None:
    with gateway(upstream, collector.root_url, "  sample_ratio: 0") as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            client.chat.completions.create(model="small", messages=MESSAGES)
        flushed(gw)
    assert collector.spans == []
    version, trace_id, _, flags = upstream.last.headers["traceparent"].split("-")
    assert version == "00" and len(trace_id) == 32 and int(flags, 16) & 1 == 0  # not sampled


def test_guard_cache_and_route_are_child_spans_of_the_request(upstream: FakeOpenAI, collector: FakeOTLP) -> None:
    """Issue 15: the request span has child spans for the guard checks (each direction), the cache lookup and the
    routing decision, besides one per upstream attempt; their attributes are configured names and outcomes only."""
    config = f"""
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 2}}}}]
  pair:
    - {{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 2}}}}
    - {{provider: up, model: gpt-4o, price: {{input: 1, output: 2}}}}
cache: {{default: {{ttl_s: 60}}}}
guards:
  - {{name: phones, type: pii, on: both, action: redact, entities: [phone]}}
telemetry:
  otlp_endpoint: {collector.root_url}
  service_name: wardgate-test
"""
    ask: list[Any] = [{"role": "user", "content": "call me on +1 415 555 0132"}]
    with gateway_from_yaml(config) as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            first = client.chat.completions.with_raw_response.create(model="small", messages=ask)
            again = client.chat.completions.with_raw_response.create(model="small", messages=ask)
            routed = client.chat.completions.with_raw_response.create(model="pair", messages=MESSAGES)
        flushed(gw)
    by_request = roots(collector.spans)
    INTERNAL = 1

    def children(request_id: str) -> list[ReceivedSpan]:
        root = by_request[request_id]
        found = [s for s in collector.spans if s.parent_span_id == root.span_id]
        assert all(s.trace_id == root.trace_id for s in found)
        return found

    steps = [(s.name, s.kind, s.attributes) for s in children(first.headers["x-request-id"]) if s.kind == INTERNAL]
    assert ("guard", INTERNAL, {"wardgate.guard.direction": "request", "wardgate.guard.outcome": "phones=redact"}) in (
        steps
    )
    assert ("cache", INTERNAL, {"wardgate.cache.status": "miss"}) in steps
    assert any(name == "guard" and a["wardgate.guard.direction"] == "response" for name, _, a in steps)
    assert [s.kind for s in children(first.headers["x-request-id"])].count(CLIENT) == 1  # the upstream attempt
    hit = {(s.name, s.attributes.get("wardgate.cache.status")) for s in children(again.headers["x-request-id"])}
    assert ("cache", "hit") in hit
    route = [s for s in children(routed.headers["x-request-id"]) if s.name == "route"]
    assert len(route) == 1 and route[0].kind == INTERNAL
    assert route[0].attributes["wardgate.route.strategy"] == "weighted"
    assert route[0].attributes["wardgate.route.first"] in {"up/gpt-4o-mini", "up/gpt-4o"}
    assert "415" not in repr([s.attributes for s in collector.spans if s.kind == INTERNAL])  # never the client's text
