"""Framing errors never reach the surfaces as a 500: the HTTP parser refuses them with a 400, and a body cut short
by the client ends the request without an answer."""

from __future__ import annotations

import socket

import pytest

from tests.support import MASTER_KEY, RunningGateway

HEAD = f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {MASTER_KEY}\r\n"
BODY = '{"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}'


def exchange(gateway: RunningGateway, raw: bytes, *, half_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


@pytest.mark.parametrize(
    "framing",
    [
        "Content-Length: abc\r\n\r\n" + BODY,
        "Content-Length: -5\r\n\r\n" + BODY,
        f"Content-Length: {len(BODY)}\r\nContent-Length: 3\r\n\r\n" + BODY,
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + BODY + "\r\n0\r\n\r\n",
        f"Transfer-Encoding: chunked\r\nContent-Length: {len(BODY)}\r\n\r\n" + BODY,
        "Transfer-Encoding: gzip, chunked, identity\r\n\r\n" + BODY,
        "X-Bad Header: 1\r\n\r\n",
        "Content-Length: 99999999999999999999999\r\n\r\n" + BODY,
    ],
)
def test_a_framing_error_is_a_4xx(gateway: RunningGateway, framing: str) -> None:
    answer = exchange(gateway, (HEAD + framing).encode())
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    assert status is None or 400 <= status < 500, answer[:300]
    assert status is not None, "the server closed the connection without a status"


def test_a_body_shorter_than_its_content_length_gets_no_500(gateway: RunningGateway) -> None:
    answer = exchange(gateway, (HEAD + f"Content-Length: {len(BODY) + 50}\r\n\r\n" + BODY).encode(), half_close=True)
    assert b" 500 " not in answer.split(b"\r\n", 1)[0]
