"""One response of a Realtime session as a pipeline call: the surface opens it when a response starts and resolves
it with the usage of its ``response.done``; the provider adapter marks it admitted (every stage before it agreed,
budgets held) and waits for that usage. Shared by the surface (api/realtime.py) and the adapters, so it is core."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from wardgate.core.usage import Usage


@dataclass(slots=True)
class RealtimeTurn:
    admitted: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    usage: asyncio.Future[Usage] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    async def run(self) -> Usage:
        """The adapter's side: admitted now; the usage once the response is done."""
        if not self.admitted.done():
            self.admitted.set_result(None)
        return await self.usage


def realtime_usage(usage: dict[str, object]) -> Usage:
    """A Realtime ``response.done`` usage: ``input_token_details`` (text, audio, cached) and ``output_token_details``
    (text, audio); audio tokens are part of the input and output totals, priced apart where the price has audio
    rates."""
    inputs = usage.get("input_token_details")
    outputs = usage.get("output_token_details")
    inputs = inputs if isinstance(inputs, dict) else {}
    outputs = outputs if isinstance(outputs, dict) else {}
    return Usage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cached_tokens=_int(inputs.get("cached_tokens")),
        audio_input_tokens=_int(inputs.get("audio_tokens")),
        audio_output_tokens=_int(outputs.get("audio_tokens")),
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
