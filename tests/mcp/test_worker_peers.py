"""Without Redis, a client's answer to a relayed request, or its cancellation, that reaches another worker of the
same server than the one holding the call is handed over a Unix socket (mcp/worker_peers.py): two workers'
backchannels in one directory, over real sockets."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from wardgate.mcp.backchannel import Backchannel, Downstream
from wardgate.mcp.worker_peers import WorkerPeers


async def _until(condition: Any) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met")


def test_an_answer_and_a_cancellation_reach_the_worker_holding_the_call() -> None:
    directory = Path(tempfile.mkdtemp(prefix="wg-peers-", dir="/tmp"))

    async def go() -> None:
        a = Backchannel(peers=WorkerPeers(directory, 1 << 20))
        b = Backchannel(peers=WorkerPeers(directory, 1 << 20))
        await a.start()
        await b.start()
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        down = Downstream("alice", "s1", 7, "s", send)
        down.backchannel = a
        asking = asyncio.ensure_future(down.ask({"method": "sampling/createMessage", "params": {"maxTokens": 1}}))
        await _until(lambda: sent)
        minted = sent[0]["id"]
        assert minted.startswith("wg-") and a._route and minted[3:].startswith(a._route)
        answer = {"jsonrpc": "2.0", "id": minted, "result": {"role": "assistant"}}
        # another principal or session, on the other worker: refused, as on the holder
        assert not await b.answer("bob", "s1", answer)
        assert not await b.answer("alice", "s2", answer)
        assert not asking.done()
        assert await b.answer("alice", "s1", answer)
        assert await asking == {"result": {"role": "assistant"}}
        assert not await b.answer("alice", "s1", answer)  # answered already
        # ids that name no worker of ours: refused without a connection anywhere else
        for bad in ("wg-../../etc/x.y", "wg-" + "0" * 16 + ".abc", "wg-nodot", "wg-" + a._route[:-1].upper() + ".x"):
            assert not await b.answer("alice", "s1", {**answer, "id": bad})

        # a cancellation POSTed to b for a call a holds
        call = Downstream("alice", "s1", 9, "", None)
        a.track(call)
        call.task = asyncio.ensure_future(asyncio.Event().wait())
        await b.cancel("alice", "s1", {"requestId": 8})  # not that call
        assert not call.cancelled
        await b.cancel("alice", "s1", {"requestId": 9})
        assert call.cancelled
        await asyncio.gather(call.task, return_exceptions=True)

        await a.close()
        await b.close()

    asyncio.run(go())
    assert list(directory.iterdir()) == []  # each worker removes its socket
    directory.rmdir()


def test_with_redis_the_peers_are_not_used_and_a_socket_that_cannot_be_made_is_no_failure() -> None:
    async def go() -> None:
        backchannel = Backchannel(peers=WorkerPeers(Path("/nonexistent/wardgate"), 1 << 20))
        await backchannel.start()  # logged; ids carry no route, answers are taken only by this worker
        assert backchannel._route == ""
        await backchannel.close()

    asyncio.run(go())

    class Redis:  # only what the constructor touches
        def pubsub(self) -> None:
            return None

    assert Backchannel(Redis(), peers=WorkerPeers(Path("/tmp"), 1))._peers is None  # type: ignore[arg-type]
