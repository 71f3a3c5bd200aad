"""Two replicas sharing Redis: shared entries, one upstream call per stampede, tenant isolation, invalidation that
reaches both, streamed hits the SDK accepts, and savings that add up to the ledger."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.cache.conftest import Replicas
from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway
from wardgate.cache import cache_stats, invalidate
from wardgate.store.usage import by_request_id

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def projects(replicas: Replicas) -> dict[str, tuple[str, str]]:
    """Two projects, one key each: name → (project id, secret)."""

    async def make() -> dict[str, tuple[str, str]]:
        out = {}
        for name in ("alpha", "beta"):
            project = await replicas.a.worker.tenancy.create_project(f"cache-{name}-{uuid.uuid4().hex[:6]}")
            secret, _ = await replicas.a.worker.keys.create(project.id, name=name)
            out[name] = (project.id, secret)
        return out

    return replicas.a.run(make())


def prompt() -> list[Any]:
    return [{"role": "user", "content": f"explain {uuid.uuid4().hex}"}]


def upstream_calls(fake: FakeOpenAI, marker: str) -> int:
    return sum(1 for r in fake.requests if marker.encode() in r.body)


def coalesced(replicas: Replicas) -> int:
    """Followers that waited for a leader, over both replicas (the report is shared: flush both, read once)."""
    for gateway in replicas:
        gateway.run(gateway.worker.cache.stats.flush())
    return sum(r["coalesced"] for r in replicas.a.run(cache_stats(replicas.a.worker.cache, ["model"])))


def post(
    gateway: RunningGateway, key: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    with httpx.Client(timeout=30) as http:
        return http.post(
            gateway.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}", **(headers or {})}
        )


def test_a_repeat_prompt_is_a_hit_on_the_other_replica(replicas: Replicas, fake: FakeOpenAI) -> None:
    messages = prompt()
    first = post(replicas.a, MASTER_KEY, {"model": "gpt", "messages": messages})
    second = post(replicas.b, MASTER_KEY, {"model": "gpt", "messages": messages})
    third = post(replicas.b, MASTER_KEY, {"model": "gpt", "messages": messages})
    assert [r.headers["x-wardgate-cache"] for r in (first, second, third)] == ["miss", "hit", "hit"]
    assert second.json() == first.json()
    assert upstream_calls(fake, messages[0]["content"]) == 1
    stats = replicas.b.run(cache_stats(replicas.b.worker.cache, ["model", "bucket"]))
    buckets = {row["bucket"] for row in stats if row["model"] == "gpt" and row["hits"]}
    assert {"redis", "local"} <= buckets  # the Redis hit filled replica b's own tier


def test_100_concurrent_identical_misses_call_upstream_once(replicas: Replicas, fake: FakeOpenAI) -> None:
    messages = prompt()
    marker = messages[0]["content"]
    body = {"model": "slow", "messages": messages}

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:

            async def one(gateway: RunningGateway) -> httpx.Response:
                return await http.post(
                    gateway.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}
                )

            leader = asyncio.ensure_future(one(replicas.a))
            # the leader is upstream (the fake holds it for 5 s): everything sent now is a concurrent identical miss
            await asyncio.to_thread(fake.wait_for_request, lambda r: marker.encode() in r.body)
            followers = [one(replicas.a if i % 2 else replicas.b) for i in range(99)]
            return await asyncio.gather(leader, *followers)

    before = coalesced(replicas)
    responses = asyncio.run(burst())
    assert upstream_calls(fake, marker) == 1
    assert all(r.status_code == 200 for r in responses)
    assert Counter(r.headers["x-wardgate-cache"] for r in responses) == {"miss": 1, "hit": 99}
    assert len({orjson.dumps(r.json()) for r in responses}) == 1
    assert coalesced(replicas) - before == 99  # every follower waited for the leader (in process or across replicas)


def test_two_projects_sending_the_same_prompt_never_share_an_entry(
    replicas: Replicas, fake: FakeOpenAI, projects: dict[str, tuple[str, str]]
) -> None:
    messages = prompt()
    body = {"model": "gpt", "messages": messages}
    (_, alpha), (_, beta) = projects["alpha"], projects["beta"]
    assert post(replicas.a, alpha, body).headers["x-wardgate-cache"] == "miss"
    assert post(replicas.b, beta, body).headers["x-wardgate-cache"] == "miss"
    assert post(replicas.a, beta, body).headers["x-wardgate-cache"] == "hit"
    assert post(replicas.b, alpha, body).headers["x-wardgate-cache"] == "hit"
    assert post(replicas.a, MASTER_KEY, body).headers["x-wardgate-cache"] == "miss"  # no project: its own scope
    assert upstream_calls(fake, messages[0]["content"]) == 3


def test_invalidating_a_project_takes_effect_on_both_replicas(
    replicas: Replicas, projects: dict[str, tuple[str, str]]
) -> None:
    messages = prompt()
    body = {"model": "gpt", "messages": messages}
    (alpha_id, alpha), (_, beta) = projects["alpha"], projects["beta"]
    only = {"x-wardgate-cache": "only-if-cached"}
    for key in (alpha, beta):
        post(replicas.a, key, body)
        for gateway in replicas:  # now in both replicas' local tiers too
            assert post(gateway, key, body, only).headers["x-wardgate-cache"] == "hit"
    replicas.a.run(invalidate(replicas.a.worker.cache, "project", alpha_id))
    for gateway in replicas:
        gone = post(gateway, alpha, body, only)
        assert gone.status_code == 504 and gone.json()["error"]["code"] == "cache_miss"
        assert post(gateway, beta, body, only).headers["x-wardgate-cache"] == "hit"


def test_a_streamed_hit_is_a_valid_sse_stream_for_the_openai_sdk(replicas: Replicas, fake: FakeOpenAI) -> None:
    messages = prompt()
    with openai.OpenAI(base_url=replicas.a.url, api_key=MASTER_KEY, max_retries=0) as a:
        original = "".join(
            c.choices[0].delta.content or ""
            for c in a.chat.completions.create(model="gpt", messages=messages, stream=True)
        )
    with openai.OpenAI(base_url=replicas.b.url, api_key=MASTER_KEY, max_retries=0) as b:
        raw = b.chat.completions.with_raw_response.create(model="gpt", messages=messages, stream=True)
        assert raw.headers["x-wardgate-cache"] == "hit"
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == original != ""
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    with httpx.Client() as http:
        text = http.post(
            replicas.b.url + "/chat/completions",
            json={"model": "gpt", "messages": messages, "stream": True},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        ).text
    events = text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    for event in events[:-2]:
        assert event.startswith("data: ")
        orjson.loads(event[6:])
    assert upstream_calls(fake, messages[0]["content"]) == 1


def test_stats_add_up_to_the_ledger(replicas: Replicas, projects: dict[str, tuple[str, str]]) -> None:
    """Only this test uses the model `tally`, so its stats are exactly what the requests below did."""
    sent: list[tuple[str, str, str]] = []  # (project id, request id, x-wardgate-cache)
    for name in ("alpha", "beta"):
        project_id, key = projects[name]
        for n in range(3):
            messages = prompt()
            for i in range(n + 1):  # 1, 2 and 3 requests: 3 misses and 3 hits per project
                gateway = replicas.a if i % 2 == 0 else replicas.b
                response = post(gateway, key, {"model": "tally", "messages": messages, "stream": i == 1})
                assert response.status_code == 200
                sent.append(
                    (project_id, response.headers["x-wardgate-request-id"], response.headers["x-wardgate-cache"])
                )
    for gateway in replicas:
        gateway.run(gateway.worker.ledger.flush())
        gateway.run(gateway.worker.cache.stats.flush())
    rows = {rid: replicas.a.run(by_request_id(replicas.a.worker.engine, rid)) for _, rid, _ in sent}
    stats = {
        r["project"]: r
        for r in replicas.a.run(cache_stats(replicas.a.worker.cache, ["project", "model"]))
        if r["model"] == "tally"
    }
    assert set(stats) == {projects["alpha"][0], projects["beta"][0]}
    for project_id, row in stats.items():
        mine = [(rows[rid], status) for pid, rid, status in sent if pid == project_id]
        hits = [ledger for ledger, status in mine if status == "hit"]
        misses = [ledger for ledger, status in mine if status == "miss"]
        assert (row["hits"], row["misses"], row["requests"]) == (len(hits), len(misses), len(mine)) == (3, 3, 6)
        assert row["input_tokens_saved"] == sum(h["input_tokens"] for h in hits) > 0
        assert row["output_tokens_saved"] == sum(h["output_tokens"] for h in hits) > 0
        assert all(h["cost_nanousd"] == 0 for h in hits)
        # each prompt's n hits saved n times what its one miss cost (prompts of 2 and 3 requests: 1 + 2 hits)
        costs = sorted(m["cost_nanousd"] for m in misses)
        assert row["cost_saved_nanousd"] > 0
        assert row["cost_saved_nanousd"] == sum(_hits_of(sent, rows, m) * m["cost_nanousd"] for m in misses)
        assert costs[0] > 0


def _hits_of(sent: list[tuple[str, str, str]], rows: dict[str, Any], miss: dict[str, Any]) -> int:
    """How many hits followed this miss: the requests of one prompt are sent in a row."""
    ids = [rid for _, rid, _ in sent]
    i = ids.index(miss["request_id"]) + 1
    count = 0
    while i < len(sent) and sent[i][2] == "hit":
        count, i = count + 1, i + 1
    return count


def test_stats_read_on_one_replica_include_the_other_replicas_hits_within_a_second(replicas: Replicas) -> None:
    async def make() -> tuple[str, str]:
        project = await replicas.a.worker.tenancy.create_project(f"cache-lag-{uuid.uuid4().hex[:6]}")
        secret, _ = await replicas.a.worker.keys.create(project.id)
        return project.id, secret

    project_id, key = replicas.a.run(make())
    body = {"model": "gpt", "messages": prompt()}
    assert [post(replicas.a, key, body).headers["x-wardgate-cache"] for _ in range(4)] == ["miss", "hit", "hit", "hit"]
    done = time.monotonic()

    def hits_seen_by_b() -> int:
        rows = replicas.b.run(cache_stats(replicas.b.worker.cache, ["project"]))
        return sum(r["hits"] for r in rows if r["project"] == project_id)

    while hits_seen_by_b() < 3 and time.monotonic() - done < 5:
        time.sleep(0.02)
    lag = time.monotonic() - done
    assert hits_seen_by_b() == 3
    assert lag < 2.0, lag  # documented: at most 1 s (the flush interval); generous for a loaded machine
