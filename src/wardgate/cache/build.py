"""Config → the cache stage: one policy per cached model, resolved once at assembly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wardgate.cache.keys import fingerprint
from wardgate.cache.runtime import ResponseCache
from wardgate.cache.stage import CacheStage, ModelPolicy, SemanticPolicy
from wardgate.config.cache import ModelCacheConfig, SemanticCacheConfig
from wardgate.config.schema import Settings
from wardgate.core.call import CostOf

if TYPE_CHECKING:
    from wardgate.cache.semantic.embedders import Embedder
    from wardgate.core.deployment import Deployment


def route_fingerprint(settings: Settings, model: str) -> str:
    """The model's routing config (its cache options aside) and its providers' config, secrets masked by pydantic:
    rotating an API key keeps the cache, changing a base URL, an upstream model or a weight empties it."""
    route = settings.models[model].model_dump(mode="json", exclude={"cache"})
    providers: dict[str, Any] = {}
    for d in settings.models[model]:
        config = settings.providers.get(d.provider)
        dump = getattr(config, "model_dump", None)
        providers[d.provider] = dump(mode="json") if dump is not None else config
    return fingerprint([route, providers])


def policy_of(settings: Settings, model: str) -> ModelCacheConfig | None:
    config = settings.models[model].cache or settings.cache.default
    return config if config is not None and config.enabled else None


def _embedder(
    cache: ResponseCache, config: SemanticCacheConfig, deployments: Mapping[str, Sequence[Deployment]]
) -> Embedder:
    name = config.embedding
    if name == "local":
        found = cache.embedders.get(name)
        if found is not None:  # kept across reloads: the model loads once per worker
            return found
        from wardgate.cache.semantic.embedders import LocalEmbedder
        from wardgate.cache.semantic.minilm import model_dir

        model_dir()  # fail at start-up, naming the package, rather than on the first request
        embedder: Embedder = LocalEmbedder()
        cache.embedders[name] = embedder
    else:
        from wardgate.cache.semantic.embedders import DeploymentEmbedder

        embedder = DeploymentEmbedder(name, deployments[name])  # rebuilt with the deployments on every reload
    return embedder


def build_cache_stage(
    settings: Settings,
    cache: ResponseCache,
    cost_of: CostOf,
    deployments: Mapping[str, Sequence[Deployment]],
) -> CacheStage | None:
    """None when no model is cached: the stage then costs nothing at all."""
    cache.reconfigure(settings.cache)
    policies: dict[str, ModelPolicy] = {}
    for model in settings.models:
        config = policy_of(settings, model)
        if config is None:
            continue
        semantic = None
        if config.semantic is not None:
            semantic = SemanticPolicy(_embedder(cache, config.semantic, deployments), config.semantic.threshold)
        policies[model] = ModelPolicy(
            ttl_s=min(config.ttl_s, settings.cache.max_ttl_s),
            stale_s=config.stale_s,
            scope=config.scope,
            nondeterministic=config.cache_nondeterministic,
            route=route_fingerprint(settings, model),
            semantic=semantic,
        )
    if not policies:
        return None
    return CacheStage(cache, policies, cost_of)
