"""Config → one worker: its long-lived state and the pipeline's stages, in order.

The one place that knows every stage. ``open_worker`` is called once per serving process at start-up; it opens what
the process holds (store, batched writers, HTTP session, Redis, cache tiers, routing state, limits) and assembles the
pipeline from them. Stages get the few collaborators they need in their constructors, never the worker itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.announcements import limits_announcer, open_redis
from wardgate.cache.build import policy_of
from wardgate.cache.runtime import ResponseCache
from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.core.outage import Outage
from wardgate.core.runtime import Runtime
from wardgate.guards.build import build_guards_stage, reconfigure_guards
from wardgate.guards.engine import compile_guards
from wardgate.guards.refresh import GuardRefresher
from wardgate.guards.stage import GuardsStage
from wardgate.identity.external import ProjectDirectory
from wardgate.identity.key_events import KeyEventListener, open_key_events
from wardgate.identity.key_uses import KeyUseTally
from wardgate.identity.keys import KeyCache
from wardgate.limits.build import build_limits, model_classes, new_backend, notifier, rebuild_from_ledger
from wardgate.limits.memory import MemoryLimits
from wardgate.limits.rate_refresh import RateLimitRefresher
from wardgate.limits.refresh import BudgetRefresher
from wardgate.limits.rules import BudgetRule, RateRule
from wardgate.limits.stage import LimitsStage
from wardgate.providers.http import UpstreamHTTP, new_session
from wardgate.routing.state import RoutingState
from wardgate.runtime_build import build_runtime
from wardgate.store.audit import AuditEntry, AuditLog, audit_key
from wardgate.store.availability import store_outage
from wardgate.store.budgets import BudgetStore
from wardgate.store.driver_insert import prepare_every
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.guards import GuardStore
from wardgate.store.keys import KeyStore, key_events_channel
from wardgate.store.provider_objects import ProviderObjectStore
from wardgate.store.rate_limits import RateLimitStore
from wardgate.store.responses import ResponseStore
from wardgate.store.tenancy import TenancyStore
from wardgate.store.usage import InsertEvents, LedgerWrites, UsageEvent, describe, insert_events
from wardgate.usage.cost import cost_function

WRITER_NICE = 5  # the store writer process's niceness: a worker's requests first, the batched writes after them

if TYPE_CHECKING:  # loaded only when identity.jwt (telemetry, mcp:, prompts:, redis:) is configured
    import redis.asyncio as aioredis

    from wardgate.alerts.runner import AlertRunner
    from wardgate.identity.jwt import JWTVerifier
    from wardgate.mcp.surface import MCPSurface
    from wardgate.prompts.stage import PromptsStage
    from wardgate.prompts.state import PromptState
    from wardgate.prompts.watch import CanaryWatch
    from wardgate.telemetry.stage import TelemetryStage


@dataclass(frozen=True, slots=True, eq=False)
class Worker:
    """Everything one serving process holds, opened by ``open_worker`` and closed by ``close`` (in reverse order)."""

    settings: Settings
    http: UpstreamHTTP
    engine: AsyncEngine
    tenancy: TenancyStore
    keys: KeyStore
    key_cache: KeyCache
    ledger: BatchWriter[UsageEvent]
    audit: BatchWriter[AuditEntry]
    audit_log: AuditLog  # the audit writer's sink: the key-anchored chain and its checkpoints
    redis: aioredis.Redis | None  # when `redis:` is configured; shared by every Redis-backed state
    cache: ResponseCache
    routing: RoutingState
    limits: LimitsStage
    budget_refresher: BudgetRefresher
    rate_limit_refresher: RateLimitRefresher  # rate limits made in the admin API, re-read like budgets
    runtime: Runtime
    jwt: JWTVerifier | None
    store_outage: Outage  # the store's up/down state, logged once per outage; the admin API answers 503 through it
    key_events: KeyEventListener | None  # pushed revocations (Redis or PostgreSQL NOTIFY)
    # tells every worker of every replica that budgets or rate limits changed in the admin API (reload/listener.py)
    announce_limits: Callable[[], Awaitable[None]]
    guards: GuardsStage  # the config's guards and those made in the admin API
    key_uses: KeyUseTally  # allowed key uses, drained into the audit queue
    prompt_stage: PromptsStage | None  # when `prompts:` is configured
    guard_refresher: GuardRefresher  # re-reads the admin API's guards, as budgets are
    prompts: PromptState | None  # when `prompts:` is configured: labels and canaries, re-read by the admin API
    prompt_watch: CanaryWatch | None  # the canary judge (tests run a round with check())
    responses: ResponseStore  # the Responses API's stored responses (api/responses.py)
    provider_objects: ProviderObjectStore  # files and batches by owner (api/files.py)
    telemetry: TelemetryStage | None  # when `telemetry:` is configured: its metrics join /metrics
    alerts: AlertRunner | None  # when `alerts:` are configured: evaluated on the shared ledger
    mcp: MCPSurface | None  # the MCP gateway, when `mcp:` is configured
    _exit: contextlib.AsyncExitStack

    async def close(self) -> None:
        await self._exit.aclose()


async def open_worker(settings: Settings) -> Worker:
    """Open one worker's state in dependency order; if any step fails, what was opened is closed again."""
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.store)
        stack.push_async_callback(engine.dispose)
        await upgrade(engine)
        prepare_every(engine.dialect)  # the batched writes' statements, compiled before any request
        http = UpstreamHTTP(new_session())
        stack.push_async_callback(http.session.close)
        redis = await open_redis(settings.redis)
        if redis is not None:
            stack.push_async_callback(redis.aclose)  # the client owns the pool: aclose() closes its sockets
        prefix = settings.redis.key_prefix if settings.redis is not None else "wg:"
        # every Redis edge (limits, cache, routing health) reports to one Outage: one log line per outage per process
        redis_outage = Outage("Redis", logging.getLogger("wardgate.redis"), quiet_s=1.0)
        cache = ResponseCache(settings.cache, redis, prefix, redis_outage)
        stack.push_async_callback(cache.close)  # before Redis: it stops its listener and writes its last stats
        ledger_config = settings.ledger

        hmac_key, master_key = settings.audit.hmac_key, settings.master_key
        audit_log = AuditLog(
            engine,
            audit_key(
                hmac_key.get_secret_value() if hmac_key else None,
                master_key.get_secret_value() if master_key else None,
            ),
            checkpoint_interval_s=settings.audit.checkpoint_interval_s,
        )
        await audit_log.check_at_start(derived=hmac_key is None)
        batch, interval = ledger_config.max_batch, ledger_config.flush_interval_s
        insert: InsertEvents = partial(insert_events, engine)
        append: Callable[[Sequence[AuditEntry]], Awaitable[None]] = audit_log.append
        if ledger_config.writer == "process":  # decision 063: the rows' CPU off this worker's loop and GIL
            from wardgate.store.remote_writes import WriterProcess
            from wardgate.store.writer_process import Opening

            opening = Opening(settings.store, audit_log.key, settings.audit.checkpoint_interval_s, WRITER_NICE)
            writer = WriterProcess(opening)
            await writer.start()
            stack.push_async_callback(writer.close)  # after both queues have drained through it (below)
            insert, append = writer.insert_events, writer.append_audit
        ledger = BatchWriter(
            "usage-ledger", LedgerWrites(insert), max_batch=batch, interval_s=interval, describe=describe
        )
        audit = BatchWriter("audit", append, max_batch=batch, interval_s=interval)
        key_uses = KeyUseTally()  # allowed key uses, one audit row per key and model per flush
        audit.add_source(key_uses.drain)
        ledger.start()
        stack.push_async_callback(ledger.stop)
        if ledger_config.writer == "inline":  # else the writer process signs the checkpoints
            audit_log.start()
            stack.push_async_callback(audit_log.close)  # after the last batch: its checkpoint holds the final head
        audit.start()
        stack.push_async_callback(audit.stop)
        tenancy, keys, identity, outage = TenancyStore(engine), KeyStore(engine), settings.identity, store_outage()
        if redis is not None:
            keys.publish = partial(redis.publish, key_events_channel(prefix))
        key_cache = KeyCache(keys, tenancy, identity.key_cache_ttl_s, stale_s=identity.stale_key_s, outage=outage)
        key_events = await open_key_events(key_cache, engine, redis, prefix)
        if key_events is not None:
            stack.push_async_callback(key_events.close)
        jwt = None
        if identity.jwt is not None:
            from wardgate.identity.jwt import JWTVerifier

            directory = ProjectDirectory(tenancy, ttl_s=identity.key_cache_ttl_s, outage=outage)
            jwt = JWTVerifier(identity.jwt, http.session, directory)
            await jwt.start()
            stack.push_async_callback(jwt.close)
        routing = RoutingState(settings.routing, redis=redis, key_prefix=prefix, outage=redis_outage)
        stack.push_async_callback(routing.close)
        cost_of = cost_function(settings)
        backend = new_backend(settings, redis, redis_outage)
        cached = frozenset(m for m in settings.models if policy_of(settings, m) is not None)
        notify = notifier(settings, audit, http.session)
        limits = build_limits(settings, backend, cost_of, notify, cached, engine)
        stack.push_async_callback(limits.drain)  # settlements in flight reach the counters before Redis closes
        refresher = BudgetRefresher(limits, BudgetStore(engine), settings.limits.refresh_s)
        await refresher.load()
        refresher.start()
        stack.push_async_callback(refresher.stop)
        rate_refresher = RateLimitRefresher(limits, RateLimitStore(engine), settings.limits.refresh_s)
        await rate_refresher.load()
        rate_refresher.start()
        stack.push_async_callback(rate_refresher.stop)
        if isinstance(backend, MemoryLimits):  # embedded counters start from this window's ledger
            await rebuild_from_ledger(limits, engine, model_classes(settings))
        telemetry = None
        if settings.telemetry is not None:  # unset: not imported, not assembled
            from wardgate.telemetry.build import build_telemetry

            telemetry = build_telemetry(settings, cost_of, http.session)
            stack.push_async_callback(telemetry.close)  # sends what waits, before the HTTP session closes
        guards = build_guards_stage(settings, audit)
        guard_refresher = GuardRefresher(guards, GuardStore(engine), settings.limits.refresh_s)
        await guard_refresher.load()
        guard_refresher.start()
        stack.push_async_callback(guard_refresher.stop)
        prompts: PromptState | None = None
        watch: CanaryWatch | None = None
        prompt_stage: PromptsStage | None = None
        if settings.prompts is not None:
            # loaded only when configured: Jinja2's sandbox and the schema checker cost start-up time and memory
            from wardgate.prompts.decorate import Decorators
            from wardgate.prompts.outcomes import CanaryOutcomes
            from wardgate.prompts.stage import PromptsStage
            from wardgate.prompts.state import PromptState
            from wardgate.prompts.watch import CanaryWatch
            from wardgate.store.prompt_reviews import PromptReviews
            from wardgate.store.prompts import PromptStore

            prompts = PromptState(PromptStore(engine), settings.prompts.refresh_s)
            await prompts.load()
            prompts.start()
            stack.push_async_callback(prompts.stop)
            outcomes = CanaryOutcomes(redis, prefix)
            watch = CanaryWatch(
                prompts,
                outcomes,
                PromptReviews(engine),
                audit,
                http.session,
                settings.prompts.webhook_url,
                settings.prompts.canary_check_s,
            )
            watch.start()
            stack.push_async_callback(watch.stop)
            config = settings.prompts
            decorators = (
                Decorators(config.decorators, prompts, config.max_rendered_bytes) if config.decorators else None
            )
            prompt_stage = PromptsStage(prompts, outcomes, cost_of, config.max_rendered_bytes, decorators)
        runtime = build_runtime(
            settings,
            http,
            key_cache,
            audit,
            ledger,
            jwt,
            cache,
            routing,
            limits,
            cost_of,
            key_uses=key_uses,
            guards=guards,
            prompts=prompt_stage,
            telemetry=telemetry,
        )
        alerts = None
        if settings.alerts:  # unset: not imported, no loop
            from wardgate.alerts.runner import AlertRunner

            alerts = AlertRunner(engine, settings.alerts, http.session, frozenset(settings.models), audit=audit)
            alerts.start()
            stack.push_async_callback(alerts.close)
        mcp = None
        if settings.mcp is not None:
            from wardgate.mcp_gateway import open_mcp

            mcp = open_mcp(settings, runtime, audit, ledger, limits, cost_of, redis, prefix, guards, engine, telemetry)
            stack.push_async_callback(mcp.close)
            await mcp.start()
        worker = Worker(
            settings=settings,
            http=http,
            engine=engine,
            tenancy=tenancy,
            keys=keys,
            key_cache=key_cache,
            ledger=ledger,
            audit=audit,
            audit_log=audit_log,
            redis=redis,
            cache=cache,
            routing=routing,
            limits=limits,
            budget_refresher=refresher,
            rate_limit_refresher=rate_refresher,
            runtime=runtime,
            jwt=jwt,
            store_outage=outage,
            key_events=key_events,
            announce_limits=limits_announcer(settings, engine, redis),
            guards=guards,
            key_uses=key_uses,
            prompt_stage=prompt_stage,
            guard_refresher=guard_refresher,
            prompts=prompts,
            prompt_watch=watch,
            responses=ResponseStore(engine, outage),
            provider_objects=ProviderObjectStore(engine, outage),
            telemetry=telemetry,
            alerts=alerts,
            mcp=mcp,
            _exit=stack.pop_all(),
        )
    return worker


async def reassemble(worker: Worker, settings: Settings) -> Worker:
    """Hot reload: the same worker (store, queues, HTTP session, Redis, counters, caches) with a pipeline built from
    ``settings``, whose reloadable sections (reload/plan.py) changed. The caller swaps the returned worker's runtime
    in with one assignment; requests already running finish on the old pipeline. The stages that no reloadable
    section configures (key-use tally, prompts, telemetry) are the worker's own and carried over; the guards stage
    too, with the file's guards, its hold-back and its prices replaced in place."""
    runtime = build_runtime(
        settings,
        worker.http,
        worker.key_cache,
        worker.audit,
        worker.ledger,
        worker.jwt,
        worker.cache,
        worker.routing,
        worker.limits,
        cost_function(settings),
        key_uses=worker.key_uses,
        guards=worker.guards,
        prompts=worker.prompt_stage,
        telemetry=worker.telemetry,
    )
    if settings.budgets != worker.settings.budgets:
        await _quietly(worker.budget_refresher.replace_config(tuple(BudgetRule.of(b) for b in settings.budgets)))
    if settings.rate_limits != worker.settings.rate_limits:
        await _quietly(worker.rate_limit_refresher.replace_config(tuple(RateRule(r) for r in settings.rate_limits)))
    if worker.mcp is not None and settings.mcp is not None and settings.mcp != worker.settings.mcp:
        await worker.mcp.reconfigure(settings.mcp)  # the file's servers and virtual servers, hot-swapped (mounts.py)
    reconfigure_guards(worker.guards, settings)
    if settings.guards != worker.settings.guards:
        await _quietly(worker.guard_refresher.replace_config(compile_guards(settings.guards)))
    policies = worker.mcp.policies if worker.mcp is not None else None
    if policies is not None and settings.tool_policies != worker.settings.tool_policies:
        policies.replace_config(settings.tool_policies)
    return dataclasses.replace(worker, settings=settings, runtime=runtime)


async def _quietly(load: Awaitable[None]) -> None:
    """A store outage does not fail a reload: the new rules are set, and the periodic re-read loads them."""
    try:
        await load
    except (SQLAlchemyError, OSError) as exc:
        logging.getLogger("wardgate.reload").warning(
            "the store is unreachable (%s); limits reload on its next read", exc
        )
