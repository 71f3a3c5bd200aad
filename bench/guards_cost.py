"""The guards stage's cost, in CPU time of the thread (so a loaded shared machine's scheduling does not count),
without any network (issue 14's figures 5: p99 ≤ 3 ms per KB of prompt,
added TTFT p99 ≤ 5 ms), with every default guard on: injection (balanced), pii (all entities), secrets, size.

    .venv/bin/python bench/guards_cost.py             # 2,000 requests per size, 200 streamed answers
    .venv/bin/python bench/guards_cost.py --n 500
    .venv/bin/python bench/guards_cost.py --all-entities   # pii with `person` and `address` too (opt-in)

- request: ``GuardsStage.before`` over a chat request of N KB of realistic prose with a few numbers (no finding, so
  every guard scans everything); reported per KB.
- added TTFT: the work done before the first token reaches the client: ``before`` on a 1 KB prompt, plus the first
  content chunks up to the first one released (the hold-back keeps a word that may still grow).
- per chunk: ``on_chunk`` on a streamed answer of one word per chunk.
- documents: ``before`` on each of the injection evaluation set's benign latent-injection documents of 4 KB or more
  (WHOIS records up to 14 KB, résumés, reports: the texts that cost the injection guard most per KB), each as the
  user message; reported as ms per KB of that document, p50 / p99 / max over all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from pathlib import Path
from typing import Any

from wardgate.config.guards import PII_ENTITIES, GuardConfig
from wardgate.core.call import Call, Chunk
from wardgate.guards.engine import compile_guards
from wardgate.guards.stage import GuardsStage

GUARDS = [
    {"name": "injection", "type": "injection", "on": "request", "action": "block"},
    {"name": "pii", "type": "pii", "on": "both", "action": "redact"},
    {"name": "secrets", "type": "secrets", "on": "both", "action": "block"},
    {"name": "size", "type": "size", "max_messages": 100, "max_chars": 1_000_000},
]
PROSE = (
    "Our Q3 revenue grew 12% to 4.2 million, driven by the 2024 contracts in Berlin and Lyon. Please summarise the "
    "report for the board, keep it under 300 words, and list three risks with their owners and due dates. "
)


def _stage(all_entities: bool = False) -> GuardsStage:
    guards = [{**g, "entities": list(PII_ENTITIES)} if all_entities and g["type"] == "pii" else g for g in GUARDS]
    return GuardsStage(compile_guards([GuardConfig.model_validate(g) for g in guards]), 64, None)


DOCUMENTS = Path(__file__).resolve().parents[1] / "tests/guards/data/injection_eval/benign_latent.jsonl"


def _call(kb: int, text: str | None = None) -> Call:
    text = text if text is not None else (PROSE * (kb * 1024 // len(PROSE) + 1))[: kb * 1024]
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                                       {"role": "user", "content": text}]}  # fmt: skip
    return Call("r", "openai", "chat", "m", body, True, None, 0.0)


def _chunk(text: str) -> Chunk:
    return Chunk({"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 100 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--all-entities", action="store_true", help="the pii guard with person and address too")
    args = parser.parse_args()
    stage = _stage(args.all_entities)
    loop = asyncio.new_event_loop()
    gc.disable()
    print("| case | p50 | p99 | p99 per KB |\n|---|---|---|---|")
    for kb in (1, 4, 16):
        times = []
        for _ in range(args.n if kb < 16 else args.n // 4):
            call = _call(kb)
            start = time.thread_time()
            loop.run_until_complete(stage.before(call))
            times.append((time.thread_time() - start) * 1000)
        p50, p99 = statistics.median(times), _p(times, 99)
        print(f"| request {kb} KB | {p50:.3f} ms | {p99:.3f} ms | {p99 / kb:.3f} ms |")
    words = ("Sure, here is the summary you asked for, with three risks and their owners. " * 8).split(" ")
    ttft: list[float] = []
    per_chunk: list[float] = []
    for _ in range(max(args.n // 10, 100)):
        call = _call(1)
        start = time.thread_time()
        loop.run_until_complete(stage.before(call))
        first = None
        for word in words:
            t = time.thread_time()
            out = stage.on_chunk(call, _chunk(word + " "))
            per_chunk.append((time.thread_time() - t) * 1e6)
            if first is None and out is not None and out.data["choices"][0]["delta"].get("content"):
                first = (time.thread_time() - start) * 1000
                ttft.append(first)
        if first is None:
            raise SystemExit("no content was released")
    print(f"| added TTFT (1 KB prompt, first word out) | {statistics.median(ttft):.3f} ms | {_p(ttft, 99):.3f} ms | |")
    print(f"| per streamed chunk (one word) | {statistics.median(per_chunk):.1f} µs | {_p(per_chunk, 99):.1f} µs | |")
    documents = [json.loads(line)["text"] for line in DOCUMENTS.read_text(encoding="utf-8").splitlines() if line]
    documents = [d for d in documents if len(d.encode()) >= 4096]
    per_kb: list[float] = []
    for _ in range(max(args.n // 200, 3)):
        for document in documents:
            call = _call(0, document)
            start = time.thread_time()
            loop.run_until_complete(stage.before(call))
            per_kb.append((time.thread_time() - start) * 1000 / (len(document.encode()) / 1024))
    print(
        f"| {len(documents)} documents of 4-15 KB (per KB) | {statistics.median(per_kb):.3f} ms | "
        f"{_p(per_kb, 99):.3f} ms | max {max(per_kb):.3f} ms |"
    )
    gc.enable()


if __name__ == "__main__":
    main()
