"""A stored answer: the final JSON body plus what the savings report and the ledger need, in one byte string."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.core.usage import Usage

ENTRY_OVERHEAD = 160  # bytes counted per entry beyond the body: key, header, bookkeeping


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """``body`` is always the non-streamed answer (chat.completion, text_completion or embeddings list); a stream is
    assembled into it before storing and replayed from it, so a streamed and a plain request share one entry.
    Times are Unix seconds: replicas compare them, so they cannot be monotonic clocks."""

    body: bytes
    fresh_until: float
    stale_until: float
    latency_ms: int  # what the original call took, end to end
    cost_nanousd: int  # what the original call cost
    usage: Usage | None

    @property
    def size(self) -> int:
        return len(self.body) + ENTRY_OVERHEAD

    def encode(self) -> bytes:
        u = self.usage
        head: dict[str, Any] = {
            "f": self.fresh_until,
            "s": self.stale_until,
            "l": self.latency_ms,
            "c": self.cost_nanousd,
            "u": None
            if u is None
            else [u.input_tokens, u.output_tokens, u.cached_tokens, u.cache_write_tokens, u.reasoning_tokens],
        }
        return orjson.dumps(head) + b"\n" + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedAnswer | None:
        """None for anything malformed (a foreign or older value under our key): a miss, never an error."""
        head_raw, sep, body = data.partition(b"\n")
        if not sep:
            return None
        try:
            head = orjson.loads(head_raw)
            u = head["u"]
            return cls(
                body=body,
                fresh_until=float(head["f"]),
                stale_until=float(head["s"]),
                latency_ms=int(head["l"]),
                cost_nanousd=int(head["c"]),
                usage=None if u is None else Usage(int(u[0]), int(u[1]), int(u[2]), int(u[3]), int(u[4])),
            )
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
            return None
