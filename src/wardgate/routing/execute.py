"""The pipeline's terminal step: send the call to its model's deployments in the order the route chose, retrying
and falling back on the failures the model's config names, within its deadline.

- A model with one deployment and no routing options goes straight to the adapter: no extra await, no allocation.
- Otherwise the candidates are the model's deployments as its strategy ranks them (the canary's candidate first for
  a call in its slice), then each fall-back model's, transitively; a deployment whose breaker is open, or that a
  Retry-After paused, is skipped. When every candidate is paused the call gets a 429 with the shortest wait left.
- A failure of a kind in ``fallback_on`` moves on; one also in the retryable kinds is first retried on the same
  deployment up to ``retries`` times, after a backoff that honours Retry-After. Any other error (the request's own
  fault, e.g. a 400) reaches the client at once. The options of the model the client asked for govern the whole
  chain; fall-back models contribute their deployments and strategies.
- A stream falls back only before its first chunk: the executor waits for that chunk (``first_chunk_timeout_s``
  bounds the wait: a stall) before it hands the stream over, and after that an error ends the stream.
- Every outcome feeds the deployment's health and breaker and, where the model has a canary, the arm's metrics.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import nullcontext
from functools import partial
from time import perf_counter

import orjson

from wardgate.config.routing import RETRYABLE, FailureKind
from wardgate.core.call import Call, ChunkStream, Result
from wardgate.core.errors import (
    UnsupportedOperation,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    WardgateError,
)
from wardgate.core.relay import Relay
from wardgate.routing.canary import BREAKER_OPEN
from wardgate.routing.retry import DEADLINE, STALLED, failure_kind, is_refusal, retry_after, retry_delay
from wardgate.routing.route import Choice, Route
from wardgate.routing.state import RoutingState
from wardgate.routing.strategies import Target

Sleep = Callable[[float], Awaitable[None]]
log = logging.getLogger("wardgate.upstream")
MAX_LOGGED_MESSAGE = 300  # characters of the provider's (scrubbed) message in a failure's log line
_UNLIMITED = nullcontext()  # reusable: no deadline, no stall timeout, no allocation


class _Refused(Exception):
    """A JSON answer the provider's content filter cut, while ``content_policy`` is a fall-back reason."""

    def __init__(self, result: Result) -> None:
        self.result = result


class Executor:
    def __init__(
        self,
        routes: Mapping[str, Route],
        state: RoutingState,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._routes = routes
        self._state = state
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def __call__(self, call: Call) -> Result:
        route = self._routes[call.model]
        single = route.single
        if single is not None:  # the router stage already set the deployment and the header
            route.counters.calls += 1
            route.counters.attempts += 1
            adapter = single.target.deployment.adapter
            if call.provider is not None and single.target.deployment.provider != call.provider:
                raise _not_on(call)
            _native_only(call, adapter)
            began = perf_counter()
            if call.trace is not None:  # telemetry configured: the attempt's span
                call.trace.attempt(call, single.target.deployment)
            try:
                if call.stream:
                    relay = Relay(call, await adapter.open_stream(call))
                    relay.on_end(_log_stream_failure(call, single.target.name, began))
                    return Result(stream=relay)
                return await adapter.send(call)
            except WardgateError as exc:
                log_failure(call, single.target.name, exc, began, _kind_of(exc, call.stream))
                raise
        return await self._route(call, route)

    def _candidates(self, call: Call, route: Route, first: Choice, now: float) -> Iterator[tuple[Route, Target]]:
        for target in first.order:
            yield route, target
        seen = {route.model}
        queue = list(route.fallbacks)
        while queue:
            name = queue.pop(0)
            fallback = self._routes.get(name)
            if fallback is None or name in seen:
                continue
            seen.add(name)
            for target in fallback.choose(call, now, self._rng).order:
                yield fallback, target
            queue.extend(fallback.fallbacks)

    async def _route(self, call: Call, route: Route) -> Result:
        state = self._state
        now = state.clock()
        state.maybe_sync(now)
        counters = route.counters
        counters.calls += 1
        deadline = now + route.deadline_s if route.deadline_s is not None else None
        began = perf_counter()
        choice = route.choose(call, now, self._rng)
        if call.trace is not None:  # telemetry: the routing decision's span (each attempt gets its own)
            decided = {"wardgate.route.strategy": route.strategy, "wardgate.route.first": choice.order[0].name}
            call.trace.step("route", began, decided)
        tried: set[str] = set()
        failed: list[str] = []
        attempts = 0
        last_error: WardgateError | None = None
        refused: Result | None = None
        owner, target = route, choice.order[0]  # the last one tried: what the decision reports
        spent = 0.0  # seconds upstream (or backing off) before the attempt that answered
        cooling: list[Target] = []
        try:
            for candidate_owner, candidate in self._candidates(call, route, choice, now):
                if candidate.name in tried or not candidate.deployment.adapter.supports(call.operation):
                    continue
                if call.provider is not None and candidate.deployment.provider != call.provider:
                    continue
                tried.add(candidate.name)
                retry = 0
                while True:
                    now = state.clock()
                    if deadline is not None and now >= deadline:
                        raise _deadline(route, attempts)
                    if not candidate.breaker.allow(now):
                        cooling.append(candidate)
                        _turned_away(candidate_owner, candidate, now)
                        break
                    owner, target = candidate_owner, candidate
                    attempts += 1
                    counters.attempts += 1
                    if attempts > 1 and retry == 0:
                        counters.fallbacks += 1
                    began = perf_counter()
                    if call.trace is not None:  # telemetry configured: one span per attempt
                        call.trace.attempt(call, target.deployment)
                    try:
                        result = await self._attempt(call, route, owner, target, deadline)
                    except _Refused as refusal:
                        refused = refusal.result
                        failed.append(f"{target.name}:content_policy")
                        spent += perf_counter() - began
                        if call.trace is not None:
                            call.trace.attempt_failed("content_policy")
                        break
                    except WardgateError as exc:
                        spent += perf_counter() - began
                        kind = _kind_of(exc, call.stream)
                        if call.trace is not None:
                            call.trace.attempt_failed(kind or exc.type)
                        if kind is None or exc.code == DEADLINE:
                            raise
                        failed.append(f"{target.name}:{kind}")
                        last_error = exc
                        if kind not in route.fallback_on:
                            raise
                        if kind in RETRYABLE and retry < route.retries:
                            delay = retry_delay(exc, retry, route.backoff, self._rng)
                            if delay is not None and (deadline is None or state.clock() + delay < deadline):
                                retry += 1
                                counters.retries += 1
                                began = perf_counter()
                                await self._sleep(delay)
                                spent += perf_counter() - began
                                continue
                        break
                    call.upstream_s += spent
                    return result
            if refused is not None:
                return refused
            counters.exhausted += 1
            if last_error is not None:
                raise last_error
            if not tried and call.provider is not None:
                raise _not_on(call)
            raise _unavailable(route, cooling, state.clock())
        finally:
            call.route, header = route.decided(
                target,
                attempts,
                fallback=owner.model if owner is not route else None,
                failed=tuple(failed),
                model_class=choice.model_class,
                difficulty=choice.difficulty,
            )
            call.response_headers.append(header)

    async def _attempt(self, call: Call, route: Route, owner: Route, target: Target, deadline: float | None) -> Result:
        """One call to one deployment. Raises the WardgateError of a failure after recording it."""
        state = self._state
        call.deployment = target.deployment
        call.usage = None
        call.first_token_at = None
        adapter = target.deployment.adapter
        _native_only(call, adapter)
        remaining = None if deadline is None else max(deadline - state.clock(), 0.0)
        stall_s = route.first_chunk_timeout_s if call.stream else None
        limit = remaining if stall_s is None else stall_s if remaining is None else min(stall_s, remaining)
        health = target.health
        health.in_flight += 1
        began = perf_counter()
        stream: ChunkStream | None = None
        handed_over = False
        try:
            try:
                async with _UNLIMITED if limit is None else asyncio.timeout(limit):
                    if call.stream:
                        stream = await adapter.open_stream(call)
                        first = await anext(stream, None)
                    else:
                        result = await adapter.send(call)
            except TimeoutError:
                if stall_s is not None and (remaining is None or stall_s < remaining):
                    raise UpstreamTimeout(f"{target.name}: no first chunk within {stall_s:g}s.", code=STALLED) from None
                raise _deadline(route, 0) from None
            except WardgateError as exc:
                self._failed(owner, target, exc, _kind_of(exc, call.stream))
                raise
            elapsed = perf_counter() - began
            if not call.stream:
                if "content_policy" in route.fallback_on and is_refusal(result.body):
                    self._outcome(owner, target, False, elapsed, kind="content_policy")
                    raise _Refused(result)
                self._outcome(owner, target, True, elapsed)
                return result
            assert stream is not None
            relay = Relay(call, stream, first)
            relay.on_end(partial(self._stream_ended, call, owner, target, elapsed, began))
            handed_over = True
            return Result(stream=relay)
        except WardgateError as exc:
            log_failure(call, target.name, exc, began, _kind_of(exc, call.stream) or exc.code in (STALLED, DEADLINE))
            if exc.code == STALLED:
                self._failed(owner, target, exc, "stall")
            elif exc.code == DEADLINE:
                target.breaker.release()
            raise
        except _Refused:
            raise
        except BaseException:  # cancelled (the client left): no outcome, let the next caller probe
            target.breaker.release()
            raise
        finally:
            if not handed_over:
                health.in_flight -= 1
                if stream is not None:
                    await _close(stream)

    async def _stream_ended(
        self, call: Call, owner: Route, target: Target, ttft: float, began: float, error: BaseException | None
    ) -> None:
        """The relay's end callback: the stream's outcome for the deployment's health, breaker and canary."""
        target.health.in_flight -= 1
        if error is None:
            self._outcome(owner, target, True, None, ttft=ttft)
        elif isinstance(error, WardgateError):
            kind = _kind_of(error, False)
            log_failure(call, target.name, error, began, kind)
            self._failed(owner, target, error, kind)
        else:  # the client left mid-stream: no outcome
            target.breaker.release()

    def _failed(self, owner: Route, target: Target, exc: WardgateError, kind: FailureKind | None) -> None:
        if kind is None:
            target.breaker.on_success()  # it answered: the request was at fault, not the deployment
            return
        breaker = target.breaker
        wait = retry_after(exc.headers) if kind == "rate_limit" and breaker.config.rate_limit_cooldown else None
        if wait:
            # the provider said how long to wait: a pause of exactly that long, never a trip (no escalation)
            now = self._state.clock()
            breaker.cool_down(now, wait, f"rate limited (Retry-After: {wait:g}s)")
            self._outcome(owner, target, False, None, kind=kind, trip=False)
            return
        self._outcome(owner, target, False, None, kind=kind)

    def _outcome(
        self,
        owner: Route,
        target: Target,
        ok: bool,
        latency: float | None,
        *,
        ttft: float | None = None,
        kind: FailureKind | None = None,
        trip: bool = True,
    ) -> None:
        now = self._state.clock()
        target.health.record(now, ok, latency=latency, ttft=ttft, kind=kind)
        if ok:
            target.breaker.on_success()
        elif trip:
            target.breaker.on_failure(now, target.health, kind or "failure")
        canary = owner.canary
        if canary is not None:
            arm = owner.arm_of(target)
            assert arm is not None
            canary.record(arm, now, ok, latency if latency is not None else ttft, kind)


def log_failure(call: Call, deployment: str, exc: WardgateError, began: float, kind: object) -> None:
    """One bounded line per failed upstream attempt: WARNING for a failure of the deployment, INFO for an answer
    that blames the request (the provider judged it: a 400)."""
    log.log(
        logging.WARNING if kind else logging.INFO,
        "upstream failure: deployment=%s status=%d code=%s duration_ms=%.1f request_id=%s message=%s",
        deployment,
        exc.status,
        exc.code,
        (perf_counter() - began) * 1000,
        call.id,
        orjson.dumps(exc.message[:MAX_LOGGED_MESSAGE]).decode(),
    )


def _log_stream_failure(call: Call, deployment: str, began: float) -> Callable[[BaseException | None], Awaitable[None]]:
    """A single deployment's stream: its failure, should it break mid-way, logged when the relay ends."""

    async def ended(error: BaseException | None) -> None:
        if isinstance(error, WardgateError):
            log_failure(call, deployment, error, began, _kind_of(error, False))

    return ended


def _kind_of(exc: WardgateError, stream: bool) -> FailureKind | None:
    return failure_kind(exc, before_first_chunk=stream)


def _not_on(call: Call) -> WardgateError:
    return UnsupportedOperation(
        f"The model `{call.model}` has no deployment on the provider that holds this call's files ({call.provider}).",
        param="model",
    )


def _deadline(route: Route, attempts: int) -> UpstreamTimeout:
    tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
    return UpstreamTimeout(f"{route.model}: the deadline of {route.deadline_s:g}s passed{tries}.", code=DEADLINE)


def _turned_away(owner: Route, target: Target, now: float) -> None:
    """A call of a canary's slice that the candidate's open breaker refused is a failure of the canary: otherwise
    the breaker would hide a failing canary from its rollback rule. A Retry-After pause is the provider pacing
    calls, not the canary failing, so it does not count."""
    canary = owner.canary
    if canary is not None and target is canary.target and not target.breaker.paused(now):
        canary.record("canary", now, False, None, BREAKER_OPEN)


def _unavailable(route: Route, cooling: list[Target], now: float) -> WardgateError:
    """Every candidate is held back: fail fast, and say when one takes calls again. When each was paused by its
    provider's Retry-After, that is a 429 (the provider's own answer, with the time left); otherwise a 503."""
    headers = {}
    if cooling:
        if all(t.breaker.paused(now) for t in cooling):
            wait = max(min(t.breaker.paused_until for t in cooling) - now, 0.0)
            return UpstreamRateLimited(
                f"{route.model}: the provider asked to wait {wait:.3g}s before the next call; try again then.",
                headers={"retry-after": str(max(math.ceil(wait), 1))},
            )
        wait = max(min(max(t.breaker.open_until, t.breaker.paused_until) for t in cooling) - now, 0.0)
        headers["retry-after"] = str(max(int(wait + 0.999), 1))
    return UpstreamUnavailable(
        f"{route.model}: every deployment is cooling down after failures; try again later.",
        headers=headers,
        status=503,
        code="no_healthy_deployment",
    )


async def _close(stream: ChunkStream) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _native_only(call: Call, adapter: object) -> None:
    """A Responses request only a provider speaking the Responses API can answer (its chat translation refused it)
    gets that refusal from any other (providers/responses_native.py)."""
    native = call.responses_native
    if native is not None and native.refusal is not None and not getattr(adapter, "native_responses", False):
        raise native.refusal
