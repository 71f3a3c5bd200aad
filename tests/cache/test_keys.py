"""Pure cache logic, no server: keys and scopes, determinism, the LRU, stored entries, stream assembly and replay."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wardgate.cache.collect import StreamAssembler
from wardgate.cache.entry import CachedAnswer
from wardgate.cache.keys import deterministic, exact_key, semantic_bucket, semantic_parts, tenant_of
from wardgate.cache.local import LocalLRU
from wardgate.cache.stats import report
from wardgate.core.call import Chunk
from wardgate.core.principal import Principal
from wardgate.core.replay import chunks_of
from wardgate.core.usage import Usage

BODY: dict[str, Any] = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
ALICE = Principal("key", "k1", project="p1", team="t1", user="alice")


def key(
    body: dict[str, Any] = BODY, tenant: str = "p:p1", route: str = "r", gens: tuple[int, ...] = (0, 0, 0, 0)
) -> str:
    return exact_key("chat", body, tenant, route, gens)


def test_delivery_fields_do_not_change_the_key_and_answer_fields_do() -> None:
    same = {**BODY, "stream": True, "stream_options": {"include_usage": True}, "user": "u", "metadata": {"a": "b"}}
    assert key(same) == key(BODY)
    assert key(dict(reversed(list(BODY.items())))) == key(BODY)  # key order never matters
    for change in ({"temperature": 0.1}, {"seed": 1}, {"max_tokens": 5}, {"tools": []}, {"unknown_param": 1}):
        assert key({**BODY, **change}) != key(BODY), change
    assert key(BODY, tenant="p:p2") != key(BODY)
    assert key(BODY, route="r2") != key(BODY)
    assert key(BODY, gens=(0, 1, 0, 0)) != key(BODY)
    assert exact_key("completions", BODY, "p:p1", "r", (0, 0, 0, 0)) != key(BODY)
    assert exact_key("chat", BODY, "p:p1", "r", (0, 0, 0, 0), "faq@1") != key(BODY)


@pytest.mark.parametrize(
    ("scope", "principal", "expected"),
    [
        ("project", ALICE, "p:p1"),
        ("team", ALICE, "p:p1/t:t1"),
        ("user", ALICE, "p:p1/u:alice"),
        ("key", ALICE, "p:p1/k:key:k1"),
        ("team", Principal("key", "k2", project="p1"), "p:p1/k:key:k2"),  # no team: never wider, the key itself
        ("user", Principal("key", "k2", project="p1"), "p:p1/k:key:k2"),
        ("project", Principal("master", "master"), "k:master:master"),
        ("user", Principal("master", "master"), "k:master:master"),
    ],
)
def test_tenant_scopes_never_leave_a_project(scope: Any, principal: Principal, expected: str) -> None:
    assert tenant_of(principal, scope) == expected


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("chat", {}, True),
        ("chat", {"temperature": 0}, True),
        ("chat", {"temperature": 0.2}, False),
        ("chat", {"n": 2}, False),
        ("chat", {"n": 2, "temperature": 0}, True),
        ("completions", {"temperature": 1}, False),
        ("embeddings", {"temperature": 1}, True),
    ],
)
def test_which_requests_are_deterministic(operation: str, params: dict[str, Any], expected: bool) -> None:
    assert deterministic(operation, params) is expected


def test_semantic_parts_compare_the_last_user_message_and_guard_everything_else() -> None:
    def parts(content: Any, **extra: Any) -> tuple[str, str] | None:
        messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": content}]
        return semantic_parts("chat", {"model": "gpt", "messages": messages, **extra})

    text, guard = parts("What is the capital of France?") or ("", "")
    assert text == "What is the capital of France?"
    assert parts("Capital of France?", user="x") is not None
    assert (parts("Capital of France?") or ("", ""))[1] == guard  # only the compared text differs
    assert (parts("Capital of France?", tools=[]) or ("", ""))[1] != guard
    assert (parts("What is 2 + 2") or ("", ""))[1] != (parts("What is 2 + 3") or ("", ""))[1]
    assert parts([{"type": "image_url", "image_url": {"url": "data:"}}]) is None
    assert semantic_parts("chat", {"messages": [{"role": "assistant", "content": "x"}]}) is None
    assert semantic_parts("embeddings", {"input": "x"}) is None
    assert semantic_bucket(guard, "p:a", "r", (0, 0, 0, 0), None) != semantic_bucket(
        guard, "p:b", "r", (0, 0, 0, 0), None
    )


def answer(size: int, fresh_until: float = 100.0, stale_until: float = 200.0) -> CachedAnswer:
    return CachedAnswer(b"x" * size, fresh_until, stale_until, 10, 5, Usage(1, 2))


def test_the_local_tier_is_bounded_by_bytes_and_evicts_the_least_recently_used() -> None:
    lru = LocalLRU(max_bytes=3 * answer(100).size)
    for name in "abc":
        lru.put(name, answer(100))
    assert lru.get("a", 0) is not None  # a is now the most recent
    lru.put("d", answer(100))
    assert lru.get("b", 0) is None and lru.evictions == 1
    assert {k for k in "acd" if lru.get(k, 0) is not None} == {"a", "c", "d"}
    lru.put("huge", answer(10_000))
    assert lru.get("huge", 0) is None and len(lru) == 3
    assert lru.get("a", 150) is not None  # stale but kept for stale serving
    assert lru.get("a", 250) is None and lru.bytes == 2 * answer(100).size


def test_an_entry_round_trips_and_garbage_decodes_to_none() -> None:
    entry = CachedAnswer(b'{"a":1}\n', 1.5, 2.5, 30, 40, Usage(1, 2, 3, 4, 5))
    assert CachedAnswer.decode(entry.encode()) == entry
    assert CachedAnswer.decode(CachedAnswer(b"{}", 1, 2, 3, 4, None).encode()) == CachedAnswer(b"{}", 1, 2, 3, 4, None)
    for junk in (b"", b"no newline", b"{}\nbody", b"[1,2]\n{}"):
        assert CachedAnswer.decode(junk) is None


def chunk(choices: list[dict[str, Any]], **extra: Any) -> Chunk:
    data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, **extra}
    return Chunk(raw=orjson.dumps(data))


def test_a_stream_assembles_into_the_answer_and_replays_into_the_same_stream() -> None:
    assembler = StreamAssembler("chat", max_bytes=10_000)
    assembler.add(chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
    assembler.add(chunk([{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]))
    assembler.add(chunk([{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]))
    tool = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}
    assembler.add(chunk([{"index": 1, "delta": {"role": "assistant", "tool_calls": [tool]}, "finish_reason": None}]))
    more = {"index": 0, "function": {"arguments": ": 1}"}}
    assembler.add(chunk([{"index": 1, "delta": {"tool_calls": [more]}, "finish_reason": "tool_calls"}]))
    assert assembler.result() is None  # choice 0 has not finished
    assembler.add(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    assembler.add(chunk([], usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}))
    body = assembler.result()
    assert body is not None
    assert body["object"] == "chat.completion" and body["usage"]["total_tokens"] == 5
    first, second = body["choices"]
    assert first["message"]["content"] == "Hello" and first["finish_reason"] == "stop"
    call = second["message"]["tool_calls"][0]
    assert call == {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    replayed = StreamAssembler("chat", max_bytes=10_000)
    chunks = chunks_of(body, "chat", include_usage=True)
    for c in chunks:
        replayed.add(Chunk(raw=c.to_bytes()))
    assert replayed.result() == body
    assert chunks[-1].data["choices"] == [] and chunks[0].data["usage"] is None


def test_a_stream_over_the_size_bound_is_not_stored() -> None:
    assembler = StreamAssembler("chat", max_bytes=100)
    for _ in range(5):
        assembler.add(chunk([{"index": 0, "delta": {"content": "x" * 30}, "finish_reason": None}]))
    assembler.add(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    assert assembler.overflow and assembler.result() is None


def test_a_completion_stream_round_trips() -> None:
    assembler = StreamAssembler("completions", max_bytes=10_000)
    for text, finish in (("echo:", None), (" hi", "length")):
        data = {"id": "x", "object": "text_completion", "created": 1, "model": "m"}
        data["choices"] = [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]
        assembler.add(Chunk(data))
    body = assembler.result()
    assert body is not None and body["choices"][0]["text"] == "echo: hi"
    assert body["choices"][0]["finish_reason"] == "length"
    texts = [c.data["choices"][0]["text"] for c in chunks_of(body, "completions", include_usage=False)]
    assert "".join(texts) == "echo: hi"


def test_the_report_sums_cells_and_derives_rates() -> None:
    cells = [
        (("2026-01-01", "p1", "gpt", "local"), {"hits": 3, "input_tokens_saved": 30, "cost_saved_nanousd": 10**9}),
        (("2026-01-01", "p1", "gpt", ""), {"misses": 1, "bypassed": 2}),
        (("2026-01-02", "p2", "gpt", "redis"), {"hits": 1, "output_tokens_saved": 5}),
    ]
    by_project = {r["project"]: r for r in report(cells, ["project"])}
    assert by_project["p1"]["hit_rate"] == 0.75 and by_project["p1"]["requests"] == 6
    assert by_project["p1"]["cost_saved_usd"] == 1.0 and by_project["p2"]["tokens_saved"] == 5
    [total] = report(cells, [])
    assert total["hits"] == 4 and total["tokens_saved"] == 35
    with pytest.raises(ValueError, match="cannot group"):
        report(cells, ["colour"])  # type: ignore[list-item]
