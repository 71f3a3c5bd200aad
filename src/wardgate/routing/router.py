"""The router stage: public model name → one of its deployments."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Mapping, Sequence
from itertools import accumulate

from wardgate.core.call import Call, Result
from wardgate.core.deployment import Deployment
from wardgate.core.errors import ModelNotFound, UnsupportedOperation


class WeightedChoice:
    """Pick a deployment with probability proportional to its weight (one draw, O(log n))."""

    __slots__ = ("_cumulative", "_deployments", "_total")

    def __init__(self, deployments: Sequence[Deployment]) -> None:
        self._deployments = tuple(deployments)
        self._cumulative = tuple(accumulate(d.weight for d in deployments))
        self._total = self._cumulative[-1]

    def pick(self) -> Deployment:
        if len(self._deployments) == 1:
            return self._deployments[0]
        return self._deployments[bisect(self._cumulative, random.random() * self._total)]


class RouterStage:
    name = "router"

    def __init__(self, models: Mapping[str, Sequence[Deployment]]) -> None:
        self._choices = {name: WeightedChoice(deps) for name, deps in models.items()}
        self._operations = {
            name: frozenset(
                op for op in ("chat", "completions", "embeddings") if any(d.adapter.supports(op) for d in deps)
            )
            for name, deps in models.items()
        }

    async def before(self, call: Call) -> Result | None:
        choice = self._choices.get(call.model)
        allowed = call.principal.allowed_models if call.principal is not None else None
        if choice is None or (allowed is not None and call.model not in allowed):
            raise ModelNotFound(
                f"The model `{call.model}` does not exist or you do not have access to it.", param="model"
            )
        if call.operation not in self._operations[call.model]:
            raise UnsupportedOperation(
                f"The model `{call.model}` does not support {call.operation} (its provider has no such endpoint).",
                param="model",
            )
        deployment = choice.pick()
        if not deployment.adapter.supports(call.operation):  # a mixed set: take one that can
            deployment = next(d for d in choice._deployments if d.adapter.supports(call.operation))
        call.deployment = deployment
        return None
