"""The cache stage: exact lookup, then semantic, before the router; the answer stored after it.

Flow of one call. ``before``: skip what is not cacheable (a model without cache config, a non-deterministic request
the route does not allow, ``x-wardgate-cache: no-store``); read the generations and compute the tenant-scoped key;
serve a fresh hit (local tier, then Redis, then a similar request); otherwise join the key's flight. A follower
waits for the leader and serves what it stored (or a stale answer at once, if there is one). The leader takes the
Redis lock; if another replica holds it, it waits for that replica's answer instead. Whoever ends up calling
upstream returns None, and ``after`` stores the answer (a stream is assembled by ``on_chunk``), then releases the
lock and the flight. Every outcome is counted for the savings report; a hit sets ``call.usage`` and
``call.cache_status`` so that accounting still writes its ledger row, marked as a hit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson

from wardgate.cache.collect import StreamAssembler
from wardgate.cache.entry import CachedAnswer
from wardgate.cache.failure import redis_failure
from wardgate.cache.keys import CacheScope, deterministic, exact_key, semantic_bucket, semantic_parts, tenant_of
from wardgate.cache.runtime import ResponseCache
from wardgate.cache.singleflight import Flight
from wardgate.core.call import CacheOptions, Call, Chunk, CostOf, Result
from wardgate.core.errors import InvalidRequest, WardgateError
from wardgate.core.principal import Principal
from wardgate.core.replay import chunks_of, replay
from wardgate.store.redis_errors import redis_errors

if TYPE_CHECKING:
    from wardgate.cache.semantic.embedders import Embedder
    from wardgate.cache.semantic.minilm import Vector

log = logging.getLogger("wardgate.cache")
CONTROLS = ("no-store", "no-cache", "only-if-cached")
HEADER = b"x-wardgate-cache"
_NO_OPTIONS = CacheOptions()
# uploads and binary answers (audio, images) are never cached
CACHED_OPERATIONS = frozenset({"chat", "completions", "embeddings", "moderations", "rerank"})


class CacheMiss(WardgateError):
    """``only-if-cached`` and nothing stored: HTTP caches answer that with 504."""

    status, type, code = 504, "invalid_request_error", "cache_miss"


@dataclass(frozen=True, slots=True)
class SemanticPolicy:
    embedder: Embedder
    threshold: float


@dataclass(frozen=True, slots=True)
class ModelPolicy:
    """One public model's cache settings, resolved at assembly."""

    ttl_s: float
    stale_s: float
    scope: CacheScope
    nondeterministic: bool
    route: str  # fingerprint of the model's config: a redeploy that changes it changes every key
    semantic: SemanticPolicy | None = None


@dataclass(slots=True)
class _Miss:
    call: Call  # held so that id(call), the pending key, stays unique while the call is under way
    key: str
    ttl_s: float
    stale_s: float
    flight: Flight | None = None
    lock: str | None = None
    assembler: StreamAssembler | None = None
    semantic: tuple[str, Vector] | None = None  # (bucket, vector) to index once stored


class CacheStage:
    name = "cache"

    def __init__(self, cache: ResponseCache, policies: Mapping[str, ModelPolicy], cost_of: CostOf) -> None:
        self._cache = cache
        self._policies = dict(policies)
        self._cost_of = cost_of
        self._pending: dict[int, _Miss] = {}

    # --- forward --------------------------------------------------------------------------------------

    async def before(self, call: Call) -> Result | None:
        trace = call.trace
        if trace is None:
            return await self._lookup(call)
        began = perf_counter()
        try:
            return await self._lookup(call)
        finally:
            if call.cache_status is not None:  # the cache was consulted (or bypassed on purpose): its span
                trace.step("cache", began, {"wardgate.cache.status": call.cache_status})

    async def _lookup(self, call: Call) -> Result | None:
        policy = self._policies.get(call.model)
        principal = call.principal
        if policy is None or principal is None or call.operation not in CACHED_OPERATIONS:
            return None  # uploads and binary answers (audio, images) are never cached
        options = call.cache_options or _NO_OPTIONS
        control = "only-if-cached" if call.cache_only is not None else parse_control(options.control)
        ttl_s = parse_ttl(options.ttl, policy.ttl_s, self._cache.config.max_ttl_s)
        template = options.prompt_template
        if control == "no-store" or not (policy.nondeterministic or deterministic(call.operation, call.body)):
            self._bypass(call, principal, control)
            return None
        generations = await self._cache.current(principal.project, call.model, template)
        if generations is None:
            self._bypass(call, principal, control)
            return None
        tenant = tenant_of(principal, policy.scope, call.end_user)
        key = exact_key(call.operation, call.body, tenant, policy.route, generations, template)
        miss = _Miss(call, key, ttl_s, policy.stale_s)
        stale: tuple[CachedAnswer, str] | None = None
        if control != "no-cache":
            found = await self._cache.get(key, time.time())
            if found is not None:
                if found[0].fresh_until > time.time():
                    return self._serve(call, principal, *found, "hit")
                stale = found
            if policy.semantic is not None:
                parts = semantic_parts(call.operation, call.body)
                if parts is not None:
                    bucket = semantic_bucket(parts[1], tenant, policy.route, generations, template)
                    similar = await self._similar(policy.semantic, bucket, parts[0], miss)
                    if similar is not None:
                        return self._serve(call, principal, similar, "semantic", "hit")
        if control == "only-if-cached":
            if stale is not None:
                return self._serve(call, principal, *stale, "stale")
            if call.cache_only is not None:
                raise call.cache_only
            raise CacheMiss(
                "x-wardgate-cache: only-if-cached, and no stored answer matches this request.", param=HEADER.decode()
            )
        if control != "no-cache":
            flight, leader = self._cache.flights.join(key)
            if leader:
                miss.flight = flight
                served = await self._lead(call, principal, miss, stale)
                if served is not None:
                    return served
            else:
                if stale is not None:
                    return self._serve(call, principal, *stale, "stale")
                await self._cache.flights.wait(flight, self._cache.config.lock_ttl_s)
                found = await self._cache.get(key, time.time())
                if found is not None:
                    status = "hit" if found[0].fresh_until > time.time() else "stale"
                    return self._serve(call, principal, *found, status, coalesced=1)
                # the leader stored nothing (an error, an unstorable answer): a normal call, stored on its own
        call.cache_status = "miss"
        call.response_headers.append((HEADER, b"miss"))
        if call.stream:
            miss.assembler = StreamAssembler(call.operation, self._cache.config.max_entry_bytes)
        self._pending[id(call)] = miss
        return None

    async def _lead(
        self, call: Call, principal: Principal, miss: _Miss, stale: tuple[CachedAnswer, str] | None
    ) -> Result | None:
        """Take the cross-replica lock; if another replica holds it, serve its answer (or the stale one)."""
        try:
            lead, miss.lock = await self._cache.try_lock(miss.key)
            if lead:
                return None
            if stale is not None:
                self._finish_flight(miss)
                return self._serve(call, principal, *stale, "stale")
            answer = await self._cache.wait_for_fill(miss.key)
        except BaseException:  # cancelled (client gone) while leading: never leave the followers waiting
            self._finish_flight(miss)
            raise
        if answer is not None and answer.fresh_until > time.time():
            self._cache.local.put(miss.key, answer)
            self._finish_flight(miss)
            return self._serve(call, principal, answer, "redis", "hit", coalesced=1)
        return None  # the other replica stored nothing in time: call upstream ourselves, still leading locally

    async def _similar(self, semantic: SemanticPolicy, bucket: str, text: str, miss: _Miss) -> CachedAnswer | None:
        try:
            vector = await semantic.embedder.embed(text)
            match = await self._cache.vectors.search(bucket, vector, semantic.threshold)
        except redis_errors(OSError) as exc:  # no search: an exact-only lookup (said once per outage)
            self._cache.outage.failed(exc)
            return None
        except (WardgateError, ValueError):  # no embedding, no search: an exact-only lookup
            log.warning("cache: semantic lookup failed (embedder %s)", semantic.embedder.name, exc_info=True)
            return None
        miss.semantic = (bucket, vector)
        if match is None:
            return None
        found = await self._cache.get(match[0], time.time())
        if found is None or found[0].fresh_until <= time.time():
            return None
        return found[0]

    def _serve(
        self, call: Call, principal: Principal, answer: CachedAnswer, bucket: str, status: str, coalesced: int = 0
    ) -> Result:
        call.cache_status = status
        call.usage = replace(answer.usage) if answer.usage is not None else None
        call.response_headers.append((HEADER, status.encode()))
        elapsed_ms = round((perf_counter() - call.started) * 1000)
        usage = answer.usage
        self._cache.stats.record(
            principal.project,
            call.model,
            bucket,
            hits=int(status == "hit"),
            stale_hits=int(status == "stale"),
            coalesced=coalesced,
            input_tokens_saved=usage.input_tokens if usage is not None else 0,
            output_tokens_saved=usage.output_tokens if usage is not None else 0,
            cost_saved_nanousd=answer.cost_nanousd,
            latency_saved_ms=max(0, answer.latency_ms - elapsed_ms),
        )
        if not call.stream:
            return Result(raw=answer.body)
        options = call.body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        chunks = chunks_of(orjson.loads(answer.body), call.operation, include_usage)
        call.first_token_at = perf_counter()
        return Result(stream=replay(chunks))

    def _bypass(self, call: Call, principal: Principal, control: str | None) -> None:
        if control == "only-if-cached":
            if call.cache_only is not None:
                raise call.cache_only
            raise CacheMiss(
                "x-wardgate-cache: only-if-cached, but this request is not cacheable (non-deterministic, or no-store).",
                param=HEADER.decode(),
            )
        call.cache_status = "bypass"
        call.response_headers.append((HEADER, b"bypass"))
        self._cache.stats.record(principal.project, call.model, None, bypassed=1)

    # --- streaming ------------------------------------------------------------------------------------

    def on_chunk(self, call: Call, chunk: Chunk) -> Chunk | None:
        if call.cache_status != "miss":
            return chunk
        miss = self._pending.get(id(call))
        if miss is not None and miss.assembler is not None:
            try:
                miss.assembler.add(chunk)
            except (ValueError, TypeError, KeyError, AttributeError):  # an odd chunk: just do not store this one
                miss.assembler.overflow = True
        return chunk

    # --- backward -------------------------------------------------------------------------------------

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        miss = self._pending.pop(id(call), None)
        if miss is None:
            return
        stored = False
        try:
            native = call.responses_native is not None and call.responses_native.answered
            if error is None and result is not None and result.status == 200 and not native:  # chat answers only
                body = self._answer_bytes(call, result, miss)
                if body is not None and len(body) <= self._cache.config.max_entry_bytes:
                    now = time.time()
                    answer = CachedAnswer(
                        body=body,
                        fresh_until=now + miss.ttl_s,
                        stale_until=now + miss.ttl_s + miss.stale_s,
                        latency_ms=round((perf_counter() - call.started) * 1000),
                        cost_nanousd=self._cost_of(call) if call.deployment is not None else 0,
                        usage=replace(call.usage) if call.usage is not None else None,
                    )
                    lifetime = miss.ttl_s + miss.stale_s
                    await self._cache.put(miss.key, answer, lifetime)
                    stored = True
                    if miss.semantic is not None:
                        bucket, vector = miss.semantic
                        try:
                            await self._cache.vectors.add(bucket, miss.key, vector, lifetime)
                        except redis_failure() as exc:
                            self._cache.outage.failed(exc)
        finally:
            if miss.lock is not None:
                await self._cache.release(miss.key, miss.lock)
            self._finish_flight(miss)
            principal = call.principal
            self._cache.stats.record(
                principal.project if principal else None, call.model, None, misses=1, stored=int(stored)
            )

    def _answer_bytes(self, call: Call, result: Result, miss: _Miss) -> bytes | None:
        if miss.assembler is None:
            return result.to_bytes() if result.stream is None else None
        body: dict[str, Any] | None = miss.assembler.result()
        if body is None:
            return None
        if "usage" not in body and call.usage is not None:
            body["usage"] = call.usage.to_openai()
        return orjson.dumps(body)

    def _finish_flight(self, miss: _Miss) -> None:
        if miss.flight is not None:
            self._cache.flights.finish(miss.key, miss.flight)
            miss.flight = None


def parse_control(value: str | None) -> str | None:
    if value is None:
        return None
    control = value.strip().lower()
    if control not in CONTROLS:
        raise InvalidRequest(
            f"x-wardgate-cache must be one of {', '.join(CONTROLS)} (got {value!r}).", param="x-wardgate-cache"
        )
    return control


def parse_ttl(value: str | None, default_s: float, max_s: float) -> float:
    """The request's TTL override, capped at ``cache.max_ttl_s``; the model's TTL when there is none."""
    if value is None:
        return default_s
    try:
        ttl = float(value)
    except ValueError:
        ttl = math.nan
    if not math.isfinite(ttl) or ttl <= 0:
        raise InvalidRequest(
            f"x-wardgate-cache-ttl must be a positive number of seconds (got {value!r}).", param="x-wardgate-cache-ttl"
        )
    return min(ttl, max_s)
