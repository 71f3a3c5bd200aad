"""SIGTERM under load: the calls held open at a gated upstream while a `wardgate serve` process drains, and the checks
of how each one ended (tests/server/test_operations.py)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import httpx
import orjson

from tests.server.gated import GatedUpstream
from tests.server.serve import Served

MASTER = "sk-test-master-key"
GATED_STREAMS = 60  # finish once released, after SIGTERM
STALLED_STREAMS = 10  # never finish on their own: ended by the drain timeout
GATED_PLAIN = 10  # non-streaming, finish once released
STALLED_PLAIN = 5  # non-streaming, never answered: 503 at the drain timeout
STALLED_ANTHROPIC = 5  # streams on /v1/messages: ended with Anthropic's error event
DRAIN_S = 2


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def wait_until_refused(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not refused(port):  # an external process: poll, bounded
        if time.monotonic() > deadline:
            raise AssertionError("the draining server still accepts connections")
        time.sleep(0.01)


async def call(client: httpx.AsyncClient, model: str, stream: bool) -> tuple[int, list[bytes]]:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {MASTER}"}
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        if not stream:
            return response.status_code, [await response.aread()]
        return response.status_code, [line.encode() async for line in response.aiter_lines() if line]


async def messages(client: httpx.AsyncClient) -> tuple[int, list[bytes]]:
    body = {"model": "stall", "stream": True, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
    async with client.stream("POST", "/v1/messages", json=body, headers=headers) as response:
        return response.status_code, [line.encode() async for line in response.aiter_lines() if line]


async def drive(served: Served, upstream: GatedUpstream) -> list[tuple[int, list[bytes]]]:
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(base_url=served.root, timeout=60, limits=limits) as client:
        calls = (
            [call(client, "gated", True) for _ in range(GATED_STREAMS)]
            + [call(client, "stall", True) for _ in range(STALLED_STREAMS)]
            + [call(client, "gated", False) for _ in range(GATED_PLAIN)]
            + [call(client, "stall", False) for _ in range(STALLED_PLAIN)]
            + [messages(client) for _ in range(STALLED_ANTHROPIC)]
        )
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.to_thread(upstream.wait_for, len(tasks))  # every call is in flight at the upstream
        served.proc.send_signal(signal.SIGTERM)  # to the supervisor, as Kubernetes (through tini) does
        await asyncio.to_thread(wait_until_refused, served.port)
        upstream.release()
        return await asyncio.gather(*tasks)


def check_outcomes(results: list[tuple[int, list[bytes]]]) -> None:
    """Released calls complete; stalled ones end at the drain timeout with `server_shutting_down` in their shape."""
    anthropic = results[len(results) - STALLED_ANTHROPIC :]
    results = results[: len(results) - STALLED_ANTHROPIC]
    streams, plain = results[: GATED_STREAMS + STALLED_STREAMS], results[GATED_STREAMS + STALLED_STREAMS :]
    for status, lines in streams[:GATED_STREAMS]:  # released within the drain: complete, to [DONE]
        assert status == 200
        assert lines[-1] == b"data: [DONE]"
        assert (
            b"".join(
                orjson.loads(line[6:])["choices"][0]["delta"].get("content", "").encode()
                for line in lines[:-1]
                if orjson.loads(line[6:])["choices"]
            )
            == b"ok"
        )
    for status, lines in streams[GATED_STREAMS:]:  # past the drain timeout: one clean error event, in order
        assert status == 200
        error = orjson.loads(lines[-1][6:])["error"]
        assert error["code"] == "server_shutting_down" and error["type"] == "api_error"
        assert orjson.loads(lines[0][6:])["choices"][0]["delta"]["content"] == "o"
    for status, body in plain[:GATED_PLAIN]:
        assert status == 200 and orjson.loads(body[0])["choices"][0]["message"]["content"] == "ok"
    for status, body in plain[GATED_PLAIN:]:
        assert status == 503 and orjson.loads(body[0])["error"]["code"] == "server_shutting_down"

    for status, lines in anthropic:  # Anthropic's shape: an `error` event after the events already sent
        assert status == 200 and lines[0] == b"event: message_start"
        assert lines[-2] == b"event: error"
        assert orjson.loads(lines[-1][6:])["error"]["message"].startswith("The gateway is shutting down")
