"""Routes without a gateway: scripted adapters, an injected clock and sleep, so routing is tested without I/O."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from wardgate.config.routing import DEFAULT_FALLBACK_ON, CanaryRollbackConfig, RoutingConfig
from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.deployment import Deployment
from wardgate.core.principal import Principal
from wardgate.routing.canary import Canary
from wardgate.routing.route import Route
from wardgate.routing.state import RoutingState
from wardgate.routing.strategies import Target

START = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """Records each wait and moves the clock on by it: no real waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)


Outcome = Any  # a WardgateError to raise, a dict to answer with, or (streams) a list of batches / exceptions


def answer(text: str = "ok", finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
    }


def chunk(text: str) -> list[Chunk]:
    return [Chunk({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]})]


@dataclass
class ScriptedAdapter:
    """An adapter whose outcomes are scripted, one per call; ``default`` once the script is used up."""

    name: str
    script: deque[Outcome] = field(default_factory=deque)
    default: Outcome = None
    type: str = "scripted"
    calls: int = 0
    operations: frozenset[str] = frozenset({"chat", "completions"})

    def supports(self, operation: str) -> bool:
        return operation in self.operations

    def _next(self) -> Outcome:
        self.calls += 1
        outcome = self.script.popleft() if self.script else self.default
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def send(self, call: Call) -> Result:
        outcome = self._next()
        return Result.of(outcome if outcome is not None else answer(f"from {self.name}"))

    async def open_stream(self, call: Call) -> ChunkStream:
        outcome = self._next()
        batches = outcome if outcome is not None else [chunk(f"from {self.name}"), chunk("!")]
        return self._chunks(batches)

    async def _chunks(self, batches: Sequence[Any]) -> AsyncIterator[list[Chunk]]:
        for batch in batches:
            if isinstance(batch, BaseException):
                raise batch
            if callable(batch):  # an awaitable factory: a stall
                await batch()
                continue
            yield batch


def deployment(name: str, adapter: ScriptedAdapter | None = None, weight: float = 1.0) -> Deployment:
    provider, _, model = name.partition("/")
    return Deployment(name, provider, model or name, adapter or ScriptedAdapter(name), weight=weight)  # type: ignore[arg-type]


def target(
    state: RoutingState,
    name: str,
    adapter: ScriptedAdapter | None = None,
    *,
    weight: float = 1.0,
    price: float | None = None,
    model_class: str | None = None,
) -> Target:
    return Target(
        deployment(name, adapter, weight),
        state.health(name),
        state.breaker(name),
        weight=weight,
        price=price,
        model_class=model_class,
    )


def route(model: str, targets: Sequence[Target], **options: Any) -> Route:
    options.setdefault("fallback_on", frozenset(DEFAULT_FALLBACK_ON))
    operations = frozenset(
        op for op in ("chat", "completions", "embeddings") if any(t.deployment.adapter.supports(op) for t in targets)
    )
    return Route(
        model=model,
        strategy=options.pop("strategy", "weighted"),
        targets=tuple(targets),
        operations=operations,
        **options,
    )


def canary(state: RoutingState, model: str, candidate: Target, percent: float, **rollback: Any) -> Canary:
    return state.canary(model, candidate, percent, "user", CanaryRollbackConfig(**rollback))


def new_state(clock: FakeClock | None = None, **config: Any) -> RoutingState:
    return RoutingState(RoutingConfig.model_validate(config), clock=clock or FakeClock())


def make_call(model: str = "m", *, stream: bool = False, user: str | None = None, text: str = "hi") -> Call:
    call = Call(
        "req-1",
        "openai",
        "chat",
        model,
        {"model": model, "messages": [{"role": "user", "content": text}]},
        stream,
        None,
        0.0,
    )
    if user is not None:
        call.principal = Principal("key", f"key-{user}", user=user)
    return call
