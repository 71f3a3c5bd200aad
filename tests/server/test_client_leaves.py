"""On Wardgate's own server, a client that leaves mid-request cancels the upstream request through the connection's
disconnect slot (api/asgi.py), with no watcher task per request; a completed response is never cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.fakes.openai import FakeOpenAI
from tests.server.serve import Served

MASTER = "sk-test-master-key"
AUTH = {"Authorization": f"Bearer {MASTER}"}
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("leaves")
    config = tmp / "wardgate.yaml"
    config.write_text(f"""
master_key: {MASTER}
store: sqlite:///{tmp}/wardgate.db
providers:
  fake: {{type: openai, base_url: "{fake.url}", api_key: sk-fake-upstream}}
models:
  stall: [{{provider: fake, model: stall}}]
  stall-stream: [{{provider: fake, model: stall-stream}}]
  gpt-4o-mini: [{{provider: fake, model: gpt-4o-mini}}]
""")
    served = Served(config)
    try:
        yield served
    finally:
        served.stop()


@pytest.mark.parametrize("model", ["stall", "stall-stream"])
async def test_a_client_that_leaves_cancels_the_upstream_request(served: Served, fake: FakeOpenAI, model: str) -> None:
    fake.reset()
    body = {"model": model, "messages": MESSAGES, "stream": model == "stall-stream"}
    async with httpx.AsyncClient() as http:
        task = asyncio.create_task(http.post(served.root + "/v1/chat/completions", json=body, headers=AUTH))
        await asyncio.to_thread(fake.wait_for_request, lambda r: bool(r.json) and r.json.get("model") == model)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await asyncio.to_thread(fake.disconnected.wait, 10)


async def test_answers_on_a_kept_alive_connection_are_whole(served: Served, fake: FakeOpenAI) -> None:
    fake.reset()
    async with httpx.AsyncClient() as http:
        for stream in (False, True, False, True):
            body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": stream}
            answer = await http.post(served.root + "/v1/chat/completions", json=body, headers=AUTH)
            assert answer.status_code == 200
            if stream:
                assert answer.text.endswith("data: [DONE]\n\n")
            else:
                assert answer.json()["object"] == "chat.completion"
    assert fake.disconnects == 0


async def test_a_websocket_upgrade_loads_the_websocket_protocol_on_first_use(served: Served) -> None:
    """The server imports its WebSocket protocol at the first upgrade (server/run.py), not in every worker."""
    url = served.root.replace("http", "ws", 1) + "/v1/realtime?model=nope"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers=AUTH):
            pass
    assert refused.value.response.status_code == 404
