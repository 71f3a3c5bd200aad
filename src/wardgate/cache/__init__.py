"""The response cache: exact (in-process LRU + Redis) and semantic, tenant-scoped, with single-flight and
generation-counter invalidation. ``stage.py`` is the pipeline stage; the functions below are for the admin API."""

from wardgate.cache.runtime import ResponseCache, cache_metrics, cache_stats, invalidate

__all__ = ["ResponseCache", "cache_metrics", "cache_stats", "invalidate"]
