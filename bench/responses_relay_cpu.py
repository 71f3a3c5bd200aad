"""CPU time per streamed text event on the Responses surface, native relay vs translation (decision 048).

Native: the provider's ``response.output_text.delta`` event bytes framed as they are (``api/responses_native.frame``).
Translated: the provider's chat chunk bytes parsed and turned into the Responses event sequence
(``ResponseStream.feed`` + ``encode``). Process CPU time (``time.process_time``), so the machine's load does not count;
no network, no pipeline: only the per-event work the surface does.

    .venv/bin/python bench/responses_relay_cpu.py [--events 200000]
"""

from __future__ import annotations

import argparse
import time

import orjson

from wardgate.api.responses_answer import skeleton
from wardgate.api.responses_native import frame
from wardgate.api.responses_stream import ResponseStream, encode


def native(events: int) -> float:
    raw = [
        orjson.dumps({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                      "delta": f" w{n}", "logprobs": [], "sequence_number": n})
        for n in range(events)
    ]  # fmt: skip
    started = time.process_time()
    for data in raw:
        frame(data)
    return time.process_time() - started


def translated(events: int) -> float:
    raw = [
        orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                      "choices": [{"index": 0, "delta": {"content": f" w{n}"}, "finish_reason": None}]})
        for n in range(events)
    ]  # fmt: skip
    body = {"model": "m", "input": "x"}
    state = ResponseStream(skeleton(body, "resp_1", "m", 0))
    started = time.process_time()
    for data in raw:
        encode(state.feed(orjson.loads(data)))
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    for name, run in (("native relay", native), ("translation", translated)):
        best = min(run(args.events) for _ in range(3))
        print(f"{name}: {best / args.events * 1e6:.2f} us CPU per text event ({args.events} events, best of 3)")


if __name__ == "__main__":
    main()
