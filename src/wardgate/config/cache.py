"""The `cache:` section and a model's `cache:` (docs/cache.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SemanticCacheConfig(Frozen):
    """Answer a request with the stored answer of a similar one (same model, tools, system prompt, parameters)."""

    threshold: Annotated[float, Field(gt=0, le=1)] = 0.9  # cosine similarity; all-MiniLM paraphrases score ~0.9+
    embedding: Annotated[str, Field(min_length=1)] = "local"  # "local" (bundled offline model) or an embeddings model


class ModelCacheConfig(Frozen):
    """One model's response cache (``models.<name>.cache``, or ``cache.default`` for models without one)."""

    enabled: bool = True
    ttl_s: Annotated[float, Field(gt=0)] = 3600.0
    stale_s: Annotated[float, Field(ge=0)] = 0.0  # kept this long past ttl_s, served (stale) while one call refreshes
    # who may share an entry; never wider than a project (end_user: one key and one client-asserted `user`)
    scope: Literal["project", "team", "user", "key", "end_user"] = "project"
    cache_nondeterministic: bool = False  # also cache temperature > 0 (or n > 1) requests
    semantic: SemanticCacheConfig | None = None


class CacheConfig(Frozen):
    """The response cache of every worker; with ``redis:`` set, entries, locks and invalidations are shared."""

    default: ModelCacheConfig | None = None  # for models without their own cache: (unset: they are not cached)
    local_max_bytes: Annotated[int, Field(ge=0)] = 64 * 1024 * 1024  # the in-process tier's size
    max_entry_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024  # larger answers (and streams) are not stored
    max_ttl_s: Annotated[float, Field(gt=0)] = 86_400.0  # ceiling for ttl_s and the x-wardgate-cache-ttl header
    lock_ttl_s: Annotated[float, Field(gt=0, le=600)] = 30.0  # how long identical misses wait for the first one
    semantic_max_per_bucket: Annotated[int, Field(gt=0, le=100_000)] = 1000  # vectors kept per tenant/route/guard
