"""The guards stage's fixed cost per request, on the peer benchmark's own bodies (issue 14, figure 5: the governed full
path loses at most 10 % of its throughput; the full path costs about 0.5 ms of CPU per request, so the guards may add
about 50 µs). A micro-benchmark: no network, no server, CPU time of this thread, mean µs per request over batches.

    .venv/bin/python bench/guards_per_request.py               # the default guards of bench/full-guards.yaml
    .venv/bin/python bench/guards_per_request.py --per-guard   # and each guard alone
    .venv/bin/python bench/guards_per_request.py --profile request  # cProfile of one case
    py-spy record --format raw -o /tmp/g.txt -- .venv/bin/python bench/guards_per_request.py --case "stream relay ("

Cases:
- ``request``: ``GuardsStage.before`` on the harness's chat prompt (bench/harness/harness.py PROMPT);
- ``answer``: ``after`` on the fake upstream's JSON completion (bench/harness/fake_upstream/static/chat.json);
- ``stream``: ``on_chunk`` over every chunk of the fake upstream's SSE answer (chat_stream.sse), then ``after``;
- ``stream relay``: what the server does for one streamed call of the peer benchmark, less what the full path without
  guards does too: ``before`` on the prompt, the SSE answer's events as the OpenAI adapter makes them (the provider's
  bytes, parsed only for the usage chunk) through ``core.relay.Relay`` with the stage's chunk hook, each released
  chunk framed as the OpenAI surface writes it (``to_bytes``), then ``after``; ``stream relay, no guards`` is the
  same relay with no hook (its cost is the full path's, not the guards'): the guards add the difference;
- ``request 1 KB`` / ``request 4 KB``: ``before`` on a prompt of that much plain prose.
Each case runs with the stage's memo of prompt texts (guards/memo.py: the benchmark's prompt is the same every time,
as a conversation's earlier turns and system prompt are) and again with ``no memo`` (every text new).
``chat total`` is request + answer: what the guards add to one non-streamed chat call of the peer benchmark.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import pstats
import statistics
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from wardgate.config.guards import GuardConfig
from wardgate.core.call import Call, Chunk, Result, Usage
from wardgate.core.relay import Relay
from wardgate.guards.engine import compile_guards
from wardgate.guards.memo import HitsMemo
from wardgate.guards.stage import GuardsStage

BENCH = Path(__file__).resolve().parent
STATIC = BENCH / "harness/fake_upstream/static"
GUARDS = [  # as bench/full-guards.yaml
    {"name": "injection", "type": "injection", "on": "request", "action": "block", "sensitivity": "balanced"},
    {"name": "pii", "type": "pii", "on": "both", "action": "redact"},  # the default entities (all but person, address)
    {"name": "secrets", "type": "secrets", "on": "both", "action": "block", "on_error": "block"},
    {"name": "size", "type": "size", "max_messages": 200, "max_prompt_tokens": 100000},
]
PROMPT = [  # bench/harness/harness.py
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "In one sentence, what does benchmarking an HTTP proxy mean?"},
]
PROSE = (
    "Our Q3 revenue grew 12% to 4.2 million, driven by the 2024 contracts in Berlin and Lyon. Please summarise the "
    "report for the board, keep it under 300 words, and list three risks with their owners and due dates. "
)


def _run(coro: Coroutine[Any, Any, Any]) -> None:
    """Drives a coroutine that never waits (the guards stage without topics guards) without an event loop."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the coroutine waited")


def _call(messages: list[dict[str, Any]], stream: bool = False) -> Call:
    body: dict[str, Any] = {"model": "bench-gpt", "messages": messages, "max_tokens": 64, "temperature": 0}
    return Call("r", "openai", "chat", "bench-gpt", body, stream, None, 0.0)


def _prose(kb: int) -> list[dict[str, Any]]:
    text = (PROSE * (kb * 1024 // len(PROSE) + 1))[: kb * 1024]
    return [PROMPT[0], {"role": "user", "content": text}]


def _sse_chunks() -> list[dict[str, Any]]:
    out = []
    for line in (STATIC / "chat_stream.sse").read_bytes().splitlines():
        if line.startswith(b"data: {"):
            out.append(orjson.loads(line[6:]))
    return out


def _sse_events() -> list[Chunk]:
    """The fake upstream's events as ``providers/openai.py`` turns them into chunks: the bytes as they came, parsed
    only when they carry the usage."""
    out = []
    for line in (STATIC / "chat_stream.sse").read_bytes().splitlines():
        if not line.startswith(b"data: {"):
            continue
        data = line[6:]
        if b'"usage":{' in data:
            obj = orjson.loads(data)
            if isinstance(obj.get("usage"), dict):
                out.append(Chunk(obj, raw=data, usage=Usage.from_openai(obj["usage"])))
                continue
        out.append(Chunk(raw=data))
    return out


async def _one_batch(batch: list[Chunk]) -> Any:
    yield batch  # one upstream read: nginx sends the whole canned body at once


def _relay(stage: GuardsStage | None, call: Call, chunks: list[Chunk]) -> int:
    """The stream of one call through the relay, framed as ``api/openai.py`` sends it; the bytes sent."""
    relay = Relay(call, _one_batch(chunks))
    if stage is not None:
        hook = stage.chunk_hook(call)
        relay.set_hooks((hook,) if hook is not None else ())
    sent = 0
    while True:
        step = relay.__anext__()
        try:
            step.send(None)
        except StopIteration as done:
            batch = done.value
        except StopAsyncIteration:
            return sent
        else:
            raise RuntimeError("the relay waited")
        if len(batch) == 1:
            payload = b"data: " + batch[0].to_bytes() + b"\n\n"
        else:
            payload = b"".join([b"data: " + c.to_bytes() + b"\n\n" for c in batch])
        sent += len(payload)


_EVENTS: list[bytes | tuple[bytes, dict[str, Any]]] = []


def _sse_events_cache() -> list[Chunk]:
    """Fresh chunks for each run (a stage parses and replaces them), made from bytes read once."""
    if not _EVENTS:
        for c in _sse_events():
            assert c.raw is not None
            _EVENTS.append(c.raw if c.usage is None else (c.raw, c.data))
    out = []
    for e in _EVENTS:
        if isinstance(e, bytes):
            out.append(Chunk(raw=e))
        else:
            out.append(Chunk(copy.deepcopy(e[1]), raw=e[0], usage=Usage.from_openai(e[1]["usage"])))
    return out


def cases(stage: GuardsStage) -> dict[str, Callable[[], Callable[[], None]]]:
    """Each case: a setup (untimed; fresh bodies) returning the timed work."""
    answer_raw = (STATIC / "chat.json").read_bytes()
    chunks = _sse_chunks()

    def request(messages: list[dict[str, Any]]) -> Callable[[], Callable[[], None]]:
        def setup() -> Callable[[], None]:
            call = _call(copy.deepcopy(messages))
            return lambda: _run(stage.before(call))

        return setup

    def answer() -> Callable[[], None]:
        call = _call(copy.deepcopy(PROMPT))
        _run(stage.before(call))
        result = Result(raw=answer_raw, _body=orjson.loads(answer_raw))
        return lambda: _run(stage.after(call, result, None))

    def chat() -> Callable[[], None]:
        call = _call(copy.deepcopy(PROMPT))
        result = Result(raw=answer_raw, _body=orjson.loads(answer_raw))

        def work() -> None:
            _run(stage.before(call))
            _run(stage.after(call, result, None))

        return work

    def stream() -> Callable[[], None]:
        call = _call(copy.deepcopy(PROMPT), stream=True)
        _run(stage.before(call))
        data = [Chunk(copy.deepcopy(c)) for c in chunks]
        hook = stage.chunk_hook(call)

        def work() -> None:
            if hook is not None:
                for chunk in data:
                    hook(call, chunk)
            _run(stage.after(call, None, None))  # the streamed answer was checked chunk by chunk

        return work

    def stream_relay(guarded: bool) -> Callable[[], Callable[[], None]]:
        def setup() -> Callable[[], None]:
            call = _call(copy.deepcopy(PROMPT), stream=True)
            chunks = _sse_events_cache()

            def work() -> None:
                if guarded:
                    _run(stage.before(call))
                    _relay(stage, call, chunks)
                    _run(stage.after(call, None, None))
                else:
                    _relay(None, call, chunks)

            return work

        return setup

    return {
        "request (bench prompt)": request(PROMPT),
        "answer (bench JSON completion)": answer,
        "chat total (request + answer)": chat,
        "stream answer (bench SSE, all chunks)": stream,
        "stream relay (request + SSE answer, framed)": stream_relay(True),
        "stream relay, no guards (the full path's share)": stream_relay(False),
        "request 1 KB prose": request(_prose(1)),
        "request 4 KB prose": request(_prose(4)),
    }


def measure(setup: Callable[[], Callable[[], None]], n: int, batches: int) -> tuple[float, float]:
    """(median, min) over batches of the mean CPU µs per run."""
    means = []
    for _ in range(batches):
        works = [setup() for _ in range(n)]
        gc.collect()
        gc.disable()
        start = time.thread_time_ns()
        for work in works:
            work()
        means.append((time.thread_time_ns() - start) / n / 1000)
        gc.enable()
    return statistics.median(means), min(means)


def _stage(guards: list[dict[str, Any]]) -> GuardsStage:
    return GuardsStage(compile_guards([GuardConfig.model_validate(g) for g in guards]), 64, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500, help="runs per batch")
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--per-guard", action="store_true", help="also each guard alone")
    parser.add_argument("--profile", metavar="CASE", help="cProfile the case whose name starts with CASE")
    parser.add_argument("--case", metavar="PREFIX", help="only the cases whose name starts with PREFIX (for py-spy)")
    args = parser.parse_args()
    stage = _stage(GUARDS)
    if args.profile:
        name, setup = next((k, v) for k, v in cases(stage).items() if k.startswith(args.profile))
        works = [setup() for _ in range(args.n * args.batches)]
        profile = cProfile.Profile()
        profile.enable()
        for work in works:
            work()
        profile.disable()
        print(name)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    cold = _stage(GUARDS)
    cold.memo = HitsMemo(max_entries=0)  # every prompt text as if never seen (a new conversation's first turn)
    sets = [("all default guards", stage), ("all default guards, no memo", cold)]
    if args.per_guard:
        sets += [(f"{g['name']} alone", _stage([g])) for g in GUARDS]
        for g in GUARDS:
            alone = _stage([g])
            alone.memo = HitsMemo(max_entries=0)
            sets.append((f"{g['name']} alone, no memo", alone))
    print("| guards | case | µs per request (median of batch means) | min |\n|---|---|---|---|")
    for label, s in sets:
        for name, setup in cases(s).items():
            if args.case and not name.startswith(args.case):
                continue
            med, low = measure(setup, args.n, args.batches)
            print(f"| {label} | {name} | {med:.1f} | {low:.1f} |", flush=True)


if __name__ == "__main__":
    main()
