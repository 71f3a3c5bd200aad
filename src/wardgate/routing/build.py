"""Config → routes: each public model's targets, options, canary and classifier, holding the worker's shared health
and breaker objects (so a reload keeps what was learnt). Runs at start-up and on reload, never per request."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from wardgate.config.schema import DeploymentConfig, ModelConfig
from wardgate.core.deployment import Deployment
from wardgate.routing.classifier import DifficultyClassifier, load_classifier
from wardgate.routing.route import Route
from wardgate.routing.state import RoutingState
from wardgate.routing.strategies import Target

OPERATIONS = (
    "chat", "completions", "embeddings", "moderations", "rerank",
    "transcriptions", "translations", "speech", "images", "image_edits", "image_variations", "videos", "realtime",
    "realtime_secret", "translate_secret", "realtime_call", "realtime_control", "batches", "batch_output",
)  # fmt: skip
PriceOf = Callable[[DeploymentConfig], float | None]  # blended USD per 1M tokens


def build_routes(
    models: Mapping[str, ModelConfig],
    deployments: Mapping[str, Sequence[Deployment]],
    price_of: PriceOf,
    state: RoutingState,
) -> dict[str, Route]:
    """``deployments[model]`` holds the built deployments of ``models[model]`` in its iteration order (the
    baseline deployments, then the canary's candidate)."""
    classifiers: dict[str | None, DifficultyClassifier] = {}
    routes: dict[str, Route] = {}
    for name, config in models.items():
        built = deployments[name]
        targets = [
            _target(entry, deployment, price_of, state, config, name)
            for entry, deployment in zip(config.deployments, built, strict=False)
        ]
        canary = None
        if config.canary is not None:
            candidate = _target(config.canary.deployment, built[len(config.deployments)], price_of, state, config, name)
            canary = state.canary(name, candidate, config.canary.percent, config.canary.sticky, config.canary.rollback)
        classifier = None
        if config.classifier is not None:
            plugin = config.classifier.plugin
            classifier = classifiers.get(plugin)
            if classifier is None:
                classifier = classifiers[plugin] = load_classifier(plugin)
        operations = frozenset(op for op in OPERATIONS if any(d.adapter.supports(op) for d in built))
        routes[name] = Route(
            model=name,
            strategy=config.strategy,
            targets=tuple(targets),
            operations=operations,
            fallbacks=tuple(config.fallbacks),
            retries=config.retries,
            backoff=config.backoff,
            deadline_s=config.deadline_s,
            fallback_on=frozenset(config.fallback_on),
            first_chunk_timeout_s=config.first_chunk_timeout_s,
            default_class=config.default_class,
            canary=canary,
            classifier=classifier,
            classifier_config=config.classifier,
        )
    state.attach(routes)
    return routes


def _target(
    entry: DeploymentConfig,
    deployment: Deployment,
    price_of: PriceOf,
    state: RoutingState,
    model: ModelConfig,
    name: str,
) -> Target:
    return Target(
        deployment=deployment,
        health=state.health(deployment.name),
        breaker=state.breaker(deployment.name, model.breaker, name),
        weight=entry.weight,
        price=price_of(entry),
        model_class=entry.model_class,
        tags=tuple(entry.tags),
    )
