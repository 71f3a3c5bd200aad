"""Nearest-neighbour search over the embeddings of stored requests, one bucket at a time.

A bucket (cache/keys.py) already pins the tenant, route, generations and guard hash, so it holds few vectors and an
exact search (one matrix-vector product) beats an approximate index. ``MemoryVectorIndex`` serves one replica.
``RedisVectorIndex`` shares buckets between replicas: each bucket is a capped Redis stream of (exact key, vector);
a replica mirrors the buckets it searches and, per search, reads only the entries added since it last looked
(one ``XRANGE``), so vectors cross the network once per replica.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

import numpy as np
import redis.asyncio as aioredis

if TYPE_CHECKING:
    from wardgate.cache.semantic.minilm import Vector


class VectorIndex(Protocol):
    async def search(self, bucket: str, vector: Vector, threshold: float) -> tuple[str, float] | None: ...

    async def add(self, bucket: str, key: str, vector: Vector, ttl_s: float) -> None: ...


class _Bucket:
    __slots__ = ("keys", "last_id", "matrix")

    def __init__(self, dimensions: int) -> None:
        self.keys: list[str] = []
        self.matrix = np.empty((0, dimensions), dtype=np.float32)
        self.last_id = "-"  # the last Redis stream id mirrored

    def add(self, key: str, vector: Vector, cap: int) -> None:
        self.keys.append(key)
        self.matrix = np.vstack([self.matrix, vector[None, :]])
        if len(self.keys) > cap:
            del self.keys[: len(self.keys) - cap]
            self.matrix = self.matrix[-cap:]

    def best(self, vector: Vector, threshold: float) -> tuple[str, float] | None:
        if not self.keys or self.matrix.shape[1] != vector.shape[0]:
            return None
        scores = self.matrix @ vector
        i = int(np.argmax(scores))
        score = float(scores[i])
        return (self.keys[i], score) if score >= threshold else None


class MemoryVectorIndex:
    """Bounded twice: ``per_bucket`` vectors per bucket (oldest dropped) and ``max_buckets`` buckets (LRU)."""

    def __init__(self, per_bucket: int = 1000, max_buckets: int = 10_000) -> None:
        self.per_bucket = per_bucket
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def bucket(self, name: str, dimensions: int) -> _Bucket:
        found = self._buckets.get(name)
        if found is None:
            found = self._buckets[name] = _Bucket(dimensions)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(name)
        return found

    async def search(self, bucket: str, vector: Vector, threshold: float) -> tuple[str, float] | None:
        found = self._buckets.get(bucket)
        return found.best(vector, threshold) if found is not None else None

    async def add(self, bucket: str, key: str, vector: Vector, ttl_s: float) -> None:
        self.bucket(bucket, vector.shape[0]).add(key, vector, self.per_bucket)


class RedisVectorIndex:
    def __init__(self, client: aioredis.Redis, prefix: str, per_bucket: int = 1000, max_buckets: int = 10_000) -> None:
        self._client = client
        self._prefix = prefix + "cache:sem:"
        self._mirror = MemoryVectorIndex(per_bucket, max_buckets)

    async def _sync(self, name: str, dimensions: int) -> _Bucket:
        bucket = self._mirror.bucket(name, dimensions)
        start = "-" if bucket.last_id == "-" else "(" + bucket.last_id
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self._client.xrange(  # type: ignore[assignment]
            self._prefix + name, min=start, max="+"
        )
        for entry_id, fields in entries:
            vector = np.frombuffer(fields[b"v"], dtype=np.float32)
            if vector.shape[0] == dimensions:
                bucket.add(fields[b"k"].decode(), vector, self._mirror.per_bucket)
            bucket.last_id = entry_id.decode()
        return bucket

    async def search(self, bucket: str, vector: Vector, threshold: float) -> tuple[str, float] | None:
        return (await self._sync(bucket, vector.shape[0])).best(vector, threshold)

    async def add(self, bucket: str, key: str, vector: Vector, ttl_s: float) -> None:
        """Stored in Redis only: this replica, like every other, mirrors it on its next search of the bucket."""
        name = self._prefix + bucket
        pipe = self._client.pipeline(transaction=False)
        pipe.xadd(
            name, {"k": key, "v": vector.astype(np.float32).tobytes()}, maxlen=self._mirror.per_bucket, approximate=True
        )
        pipe.expire(name, max(1, int(ttl_s)))
        await pipe.execute()
