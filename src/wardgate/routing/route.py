"""A public model name as the router holds it: its deployments, options, canary and classifier, and the choice of
the order in which one call tries them."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wardgate.config.routing import BackoffConfig, ClassifierConfig, FailureKind, Strategy
from wardgate.core.call import Call, RouteDecision
from wardgate.routing.canary import Arm, Canary
from wardgate.routing.classifier import DifficultyClassifier
from wardgate.routing.strategies import Target, rank

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger("wardgate.routing")
SINGLE = "single"
ROUTE_HEADER = b"x-wardgate-route"


@dataclass(slots=True)
class RouteCounters:
    """Per model, since start (one worker): what a metrics exporter would publish as counters."""

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0  # attempts on a deployment other than the first one chosen
    exhausted: int = 0  # calls that failed after every allowed attempt
    classified: dict[str, int] = field(default_factory=dict)  # model class → calls the classifier sent there
    classifier_errors: int = 0


@dataclass(frozen=True, slots=True)
class Single:
    """The fast path of a model with one deployment and nothing to decide: built once, shared by its calls."""

    target: Target
    decision: RouteDecision
    header: tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Choice:
    order: list[Target]
    model_class: str | None = None
    difficulty: float | None = None


@dataclass(eq=False, slots=True)
class Route:
    model: str
    strategy: Strategy
    targets: tuple[Target, ...]  # the baseline deployments (the canary's candidate is apart)
    operations: frozenset[str]
    fallbacks: tuple[str, ...] = ()
    retries: int = 0
    backoff: BackoffConfig = BackoffConfig()
    deadline_s: float | None = None
    fallback_on: frozenset[FailureKind] = frozenset()
    first_chunk_timeout_s: float | None = None
    default_class: str | None = None
    canary: Canary | None = None
    classifier: DifficultyClassifier | None = None
    classifier_config: ClassifierConfig | None = None
    counters: RouteCounters = field(default_factory=RouteCounters)
    single: Single | None = None  # set when the model has one deployment and no routing options
    _decided: dict[tuple[str, Arm | None], tuple[RouteDecision, tuple[bytes, bytes]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        plain = (
            len(self.targets) == 1
            and not self.fallbacks
            and not self.retries
            and self.deadline_s is None
            and self.first_chunk_timeout_s is None
            and self.canary is None
            and self.classifier is None
        )
        if plain:
            target = self.targets[0]
            decision = RouteDecision(SINGLE, target.name, 1)
            self.single = Single(target, decision, (ROUTE_HEADER, route_header(decision).encode()))

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(t.model_class for t in self.targets if t.model_class is not None)

    def choose(self, call: Call, now: float, rng: random.Random) -> Choice:
        """The order this call tries this model's deployments in: the canary's candidate first for a call in its
        slice, then the baseline deployments as the strategy ranks them (within the preferred class first)."""
        model_class, difficulty = self._model_class(call)
        order = rank(self.strategy, self.targets, now, call.stream, rng, model_class)
        canary = self.canary
        if canary is not None and canary.arm_for(sticky_id(call, canary.sticky)) == "canary":
            order.insert(0, canary.target)
        return Choice(order, model_class, difficulty)

    def _model_class(self, call: Call) -> tuple[str | None, float | None]:
        config = self.classifier_config
        if self.classifier is not None and config is not None and call.operation in ("chat", "completions"):
            try:
                difficulty = float(self.classifier.score(call.body))
            except Exception:  # a plug-in's bug must not fail the call: route as if unclassified
                self.counters.classifier_errors += 1
                log.exception("the difficulty classifier of %s failed; routing without it", self.model)
            else:
                chosen = config.easy if difficulty < config.threshold else config.hard
                self.counters.classified[chosen] = self.counters.classified.get(chosen, 0) + 1
                return chosen, difficulty
        principal = call.principal
        if principal is not None:
            tagged = principal.tags.get("model_class")
            if tagged is not None and tagged in self.classes:
                return tagged, None
        return self.default_class, None

    def decided(
        self,
        target: Target,
        attempts: int,
        *,
        fallback: str | None,
        failed: tuple[str, ...],
        model_class: str | None,
        difficulty: float | None,
    ) -> tuple[RouteDecision, tuple[bytes, bytes]]:
        """The decision and its header. The common one (first attempt, no class, no score) is built once per
        deployment and shared, so a routed call that succeeds at once allocates neither."""
        arm = self.arm_of(target) if fallback is None else None
        common = attempts == 1 and not failed and fallback is None and model_class is None and difficulty is None
        if common:
            found = self._decided.get((target.name, arm))
            if found is not None:
                return found
        decision = RouteDecision(
            self.strategy,
            target.name,
            attempts,
            model=fallback,
            failed=failed,
            arm=arm,
            model_class=model_class,
            difficulty=difficulty,
        )
        made = decision, (ROUTE_HEADER, route_header(decision).encode())
        if common:
            self._decided[(target.name, arm)] = made
        return made

    def arm_of(self, target: Target) -> Arm | None:
        canary = self.canary
        if canary is None:
            return None
        return "canary" if target is canary.target else "baseline"


def sticky_id(call: Call, sticky: str) -> str:
    """Who a canary's slice sticks to: the user (else the key's end user, else the key), or the key; an anonymous
    call is its own. An end user (client-asserted) only picks a slice within its key."""
    principal = call.principal
    if principal is None:
        return call.id
    if sticky == "user" and principal.user:
        return principal.user
    if sticky == "user" and call.end_user:
        return f"{principal.id}\x00{call.end_user}"
    return principal.id


def route_header(decision: RouteDecision) -> str:
    """``strategy=…; deployment=…; attempts=N`` and, when they apply, the failed attempts, the fall-back model,
    the canary arm, the model class and the classifier's score."""
    parts = [f"strategy={decision.strategy}", f"deployment={decision.deployment}", f"attempts={decision.attempts}"]
    if decision.failed:
        parts.append("failed=" + ",".join(decision.failed))
    if decision.model is not None:
        parts.append(f"fallback={decision.model}")
    if decision.arm is not None:
        parts.append(f"arm={decision.arm}")
    if decision.model_class is not None:
        parts.append(f"class={decision.model_class}")
    if decision.difficulty is not None:
        parts.append(f"difficulty={decision.difficulty:.2f}")
    return "; ".join(parts)


def deployment_models(routes: Sequence[Route]) -> dict[str, list[str]]:
    """Deployment name → the public models that route to it (the canary candidates included)."""
    out: dict[str, list[str]] = {}
    for route in routes:
        names = [t.name for t in route.targets]
        if route.canary is not None:
            names.append(route.canary.target.name)
        for name in names:
            out.setdefault(name, []).append(route.model)
    return out
