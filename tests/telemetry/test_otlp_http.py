"""The export thread's OTLP/HTTP client (telemetry/tracing.py ``OtlpHttp``): one kept-alive connection, re-opened
when the collector closed it while idle, never raising; a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wardgate.telemetry.tracing import OtlpHttp


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
def collector() -> Iterator[tuple[ThreadingHTTPServer, type[Collector]]]:
    handler = type("Handler", (Collector,), {"bodies": [], "connections": set(), "drop_after_answer": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_batches_share_one_connection(collector: tuple[ThreadingHTTPServer, type[Collector]]) -> None:
    server, handler = collector
    client = OtlpHttp(f"http://127.0.0.1:{server.server_address[1]}", 5.0)
    assert all(client.send(b"batch %d" % i) for i in range(5))
    assert handler.bodies == [b"batch %d" % i for i in range(5)]
    assert len(handler.connections) == 1
    client.close()


def test_a_connection_the_collector_closed_is_reopened(collector: tuple[ThreadingHTTPServer, type[Collector]]) -> None:
    server, handler = collector
    handler.drop_after_answer = True
    client = OtlpHttp(f"http://127.0.0.1:{server.server_address[1]}/", 5.0)
    assert client.send(b"one")
    assert client.send(b"two")  # the kept connection is closed by now: the same batch goes on a new one
    assert client.send(b"three")
    assert handler.bodies == [b"one", b"two", b"three"]
    client.close()


def test_refusals_and_a_closed_port_are_false_not_errors(
    collector: tuple[ThreadingHTTPServer, type[Collector]],
) -> None:
    server, _ = collector
    port = server.server_address[1]
    refused = OtlpHttp(f"http://127.0.0.1:{port}/elsewhere", 5.0)
    assert not refused.send(b"x")  # 404
    refused.close()
    server.shutdown()
    server.server_close()
    assert not OtlpHttp(f"http://127.0.0.1:{port}", 1.0).send(b"x")
