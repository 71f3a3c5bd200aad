"""The span export on the event loop (telemetry/tracing.py): ``OtlpHttp`` POSTs through an aiohttp session, keeps its
connection, tries a connection the collector closed once more and never raises; ``Tracing`` sends a full batch by
itself, drops (counted) what a full queue or a collector that is down cannot take, and never makes its caller wait.
A real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind

from tests.limits.test_replicas import free_port
from wardgate.config.telemetry import TelemetryConfig
from wardgate.telemetry.tracing import MAX_EXPORT_BATCH, OtlpHttp, SpanRecord, Tracing

Served = tuple[ThreadingHTTPServer, type["Collector"]]


class Collector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    bodies: list[bytes]
    connections: set[int]
    drop_after_answer = False  # close the connection after answering, without telling the client (an idle timeout)

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(body)
        self.connections.add(id(self.connection))
        status = 200 if self.path == "/v1/traces" else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if self.drop_after_answer:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Served]:
    handler = type("Handler", (Collector,), {"bodies": [], "connections": set(), "drop_after_answer": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


async def test_batches_share_one_connection(collector: Served, session: aiohttp.ClientSession) -> None:
    server, handler = collector
    client = OtlpHttp(session, url(server), 5.0)
    assert all([await client.send(b"batch %d" % i) for i in range(5)])
    assert handler.bodies == [b"batch %d" % i for i in range(5)]
    assert len(handler.connections) == 1


async def test_a_connection_the_collector_closed_is_reopened(collector: Served, session: aiohttp.ClientSession) -> None:
    server, handler = collector
    handler.drop_after_answer = True
    client = OtlpHttp(session, url(server) + "/", 5.0)
    assert await client.send(b"one")
    assert await client.send(b"two")  # the kept connection is closed by now: the same batch goes on a new one
    assert await client.send(b"three")
    assert handler.bodies == [b"one", b"two", b"three"]


async def test_refusals_and_a_closed_port_are_false_not_errors(
    collector: Served, session: aiohttp.ClientSession
) -> None:
    server, _ = collector
    assert not await OtlpHttp(session, url(server) + "/elsewhere", 5.0).send(b"x")  # 404
    assert not await OtlpHttp(session, f"http://127.0.0.1:{free_port()}", 1.0).send(b"x")


def record(i: int) -> SpanRecord:
    return SpanRecord(f"chat m{i % 3}", i + 1, i + 1, None, False, SpanKind.SERVER, 10, 20, {}, {"n": i}, None)


def spans_in(bodies: list[bytes]) -> list[int]:
    out = []
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        out.extend(s.attributes[0].value.int_value for s in request.resource_spans[0].scope_spans[0].spans)
    return out


async def test_a_full_batch_leaves_by_itself_and_flush_sends_the_rest(
    collector: Served, session: aiohttp.ClientSession
) -> None:
    server, handler = collector
    tracing = Tracing(TelemetryConfig(otlp_endpoint=url(server)), OtlpHttp(session, url(server), 5.0).send)
    n = MAX_EXPORT_BATCH + 10
    for i in range(n):
        tracing.add([record(i)])
    tracing.ready()
    sending = tracing._sending
    assert sending is not None  # a task of its own: add and ready returned without waiting for the collector
    await sending
    assert spans_in(handler.bodies) == list(range(MAX_EXPORT_BATCH)) and tracing.waiting == 10
    await tracing.flush()
    assert spans_in(handler.bodies) == list(range(n))
    assert (tracing.exporter.exported, tracing.dropped) == (n, 0)
    await tracing.close()


async def test_a_full_queue_and_a_collector_that_is_down_drop_spans_and_count_them(
    session: aiohttp.ClientSession,
) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tracing = Tracing(TelemetryConfig(otlp_endpoint=down, export_queue=100), OtlpHttp(session, down, 1.0).send)
    for i in range(130):
        tracing.add([record(i)])
    assert (tracing.waiting, tracing.queue_dropped) == (100, 30)
    await tracing.flush()
    assert (tracing.exporter.exported, tracing.exporter.dropped, tracing.dropped) == (0, 100, 130)
    for i in range(5):
        tracing.add([record(i)])
    await tracing.close()  # the collector is down: what waits is dropped at once, counted
    assert (tracing.waiting, tracing.dropped) == (0, 135)


async def test_spans_added_while_a_batch_is_in_flight_wait_for_the_next(
    collector: Served, session: aiohttp.ClientSession
) -> None:
    server, handler = collector
    gate = asyncio.Event()
    post = OtlpHttp(session, url(server), 5.0).send

    async def slow(data: bytes) -> bool:
        await gate.wait()
        return await post(data)

    tracing = Tracing(TelemetryConfig(otlp_endpoint=url(server)), slow)
    for i in range(MAX_EXPORT_BATCH):
        tracing.add([record(i)])
    tracing.ready()
    await asyncio.sleep(0)
    tracing.add([record(MAX_EXPORT_BATCH)])  # the batch is in flight: this one is kept
    tracing.ready()
    gate.set()
    await tracing.flush()
    assert spans_in(handler.bodies) == list(range(MAX_EXPORT_BATCH + 1)) and len(handler.bodies) == 2
