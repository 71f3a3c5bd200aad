"""The router's cost per request, in microseconds of CPU, without any network: the router stage and the terminal
step (routing/stage.py, routing/execute.py) around an adapter that answers at once.

    .venv/bin/python bench/routing_overhead.py            # 200,000 calls per case
    .venv/bin/python bench/routing_overhead.py --n 50000

"baseline" is the router as it was before routing/ (one weighted draw in the stage, the adapter called directly
as the terminal); every other line is today's code. "added" is the difference to "no router": the same loop that
builds the Call and awaits the adapter, with no routing at all.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wardgate.config.routing import DEFAULT_FALLBACK_ON, CanaryRollbackConfig, ClassifierConfig, RoutingConfig
from wardgate.core.call import Call, Result
from wardgate.core.deployment import Deployment
from wardgate.core.principal import Principal
from wardgate.routing.canary import Canary
from wardgate.routing.classifier import BuiltinClassifier
from wardgate.routing.execute import Executor
from wardgate.routing.route import Route
from wardgate.routing.router import WeightedChoice
from wardgate.routing.stage import RouterStage
from wardgate.routing.state import RoutingState
from wardgate.routing.strategies import Target

ANSWER = Result(raw=b'{"id":"x","object":"chat.completion","choices":[]}')
BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "What is the capital of France?"}]}
PRINCIPAL = Principal("key", "key-1", user="user-1")


class InstantAdapter:
    """Answers at once: what is left is the router's own work."""

    type = "bench"

    def __init__(self, name: str) -> None:
        self.name = name

    def supports(self, operation: str) -> bool:
        return True

    async def send(self, call: Call) -> Result:
        return ANSWER

    async def open_stream(self, call: Call) -> Any:
        raise NotImplementedError


Step = Callable[[Call], Awaitable[Result]]


def targets(state: RoutingState, n: int, classes: tuple[str, ...] = ()) -> list[Target]:
    out = []
    for i in range(n):
        name = f"p{i}/model-{i}"
        deployment = Deployment(name, f"p{i}", f"model-{i}", InstantAdapter(name))  # type: ignore[arg-type]
        out.append(
            Target(
                deployment,
                state.health(name),
                state.breaker(name),
                price=float(i + 1),
                model_class=classes[i % len(classes)] if classes else None,
            )
        )
    return out


def routed(route: Route, state: RoutingState) -> Step:
    stage = RouterStage({"m": route})
    executor = Executor({"m": route}, state, rng=random.Random(1))

    async def step(call: Call) -> Result:
        await stage.before(call)
        return await executor(call)

    return step


def baseline() -> Step:
    """The router before routing/ existed: RouterStage did one weighted draw; the terminal called the adapter."""
    deployment = Deployment("p/m", "p", "m", InstantAdapter("p/m"))  # type: ignore[arg-type]
    choices = {"m": WeightedChoice([deployment])}
    operations = {"m": frozenset({"chat"})}

    async def before(call: Call) -> None:
        choice = choices.get(call.model)
        allowed = call.principal.allowed_models if call.principal is not None else None
        if choice is None or (allowed is not None and call.model not in allowed):
            raise LookupError
        if call.operation not in operations[call.model]:
            raise LookupError
        picked = choice.pick()
        if not picked.adapter.supports(call.operation):
            raise LookupError
        call.deployment = picked

    async def call_provider(call: Call) -> Result:
        assert call.deployment is not None
        adapter = call.deployment.adapter
        return await adapter.send(call)

    async def step(call: Call) -> Result:
        await before(call)
        return await call_provider(call)

    return step


def no_router() -> Step:
    adapter = InstantAdapter("p/m")

    async def step(call: Call) -> Result:
        return await adapter.send(call)

    return step


def cases() -> dict[str, Step]:
    state = RoutingState(RoutingConfig())
    fallback_on = frozenset(DEFAULT_FALLBACK_ON)
    out: dict[str, Step] = {"no router": no_router(), "baseline (before routing/)": baseline()}
    out["single deployment (fast path)"] = routed(
        Route("m", "weighted", tuple(targets(state, 1)), frozenset({"chat"})), state
    )
    for strategy in ("weighted", "lowest_cost", "lowest_latency", "highest_success", "least_busy"):
        route = Route("m", strategy, tuple(targets(state, 3)), frozenset({"chat"}), fallback_on=fallback_on)
        out[f"3 deployments, {strategy}"] = routed(route, state)
    pool = targets(state, 2, ("economy", "frontier"))
    classified = Route(
        "m",
        "model_class",
        tuple(pool),
        frozenset({"chat"}),
        fallback_on=fallback_on,
        classifier=BuiltinClassifier(),
        classifier_config=ClassifierConfig(easy="economy", hard="frontier"),
    )
    out["2 deployments + classifier"] = routed(classified, state)
    base, candidate = targets(state, 2)
    canary = Canary(
        "m",
        candidate,
        5,
        "user",
        CanaryRollbackConfig(),
        {"canary": state.health("c:canary"), "baseline": state.health("c:baseline")},
    )
    with_canary = Route("m", "weighted", (base,), frozenset({"chat"}), fallback_on=fallback_on, canary=canary)
    out["1 deployment + 5% canary"] = routed(with_canary, state)
    return out


async def measure(step: Step, n: int) -> float:
    """Best of five runs of n calls, in microseconds per call (the best run is the least disturbed)."""
    runs = []
    for _ in range(5):
        gc.collect()
        started = time.process_time()
        for i in range(n):
            call = Call(str(i), "openai", "chat", "m", BODY, False, None, 0.0, principal=PRINCIPAL)
            await step(call)
        runs.append((time.process_time() - started) / n * 1e6)
    return min(runs)


def classifier_cost() -> tuple[float, float]:
    classifier = BuiltinClassifier()
    short = {"messages": [{"role": "user", "content": "Design a rate limiter and compare the trade-offs."}]}
    huge = {"messages": [{"role": "user", "content": "lorem ipsum dolor sit amet " * 40_000}]}  # ~1 MB
    out = []
    for body, n in ((short, 20_000), (huge, 500)):
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n):
                classifier.score(body)
            samples.append((time.perf_counter() - started) / n * 1e6)
        out.append(statistics.median(samples))
    return out[0], out[1]


async def main(n: int) -> None:
    results = {name: await measure(step, n) for name, step in cases().items()}
    floor = results["no router"]
    print(f"{'case':40} {'µs/request':>11} {'added µs':>9}")
    for name, us in results.items():
        print(f"{name:40} {us:11.2f} {us - floor:9.2f}")
    short, huge = classifier_cost()
    print(f"\nbuilt-in classifier: {short:.1f} µs for a one-line prompt, {huge:.0f} µs for a 1 MB prompt")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="calls per run (five runs per case)")
    asyncio.run(main(parser.parse_args().n))
