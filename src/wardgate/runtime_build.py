"""Config → one pipeline: the stages of one configuration, in order, around a worker's long-lived state.

``build_runtime`` is called when a worker opens (assemble.open_worker) and again on every hot reload
(assemble.reassemble): the stages are rebuilt from the settings, the state they share (store writers, HTTP session,
counters, caches, routing state) is the worker's and carried over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wardgate.accounting.stage import AccountingStage
from wardgate.cache.build import build_cache_stage
from wardgate.cache.runtime import ResponseCache
from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.core.call import CostOf
from wardgate.core.deployment import Adapter
from wardgate.core.pipeline import Pipeline, Stage
from wardgate.core.runtime import Runtime
from wardgate.deployments import build_adapters, build_deployments, deployment_prices
from wardgate.guards.stage import GuardsStage
from wardgate.identity.access import ModelAccessStage
from wardgate.identity.external import ProjectDirectory
from wardgate.identity.key_uses import KeyUseTally
from wardgate.identity.keys import IdentityStage, KeyCache
from wardgate.identity.mtls import MTLSIdentity
from wardgate.limits.stage import LimitsStage
from wardgate.providers.http import UpstreamHTTP
from wardgate.routing.build import build_routes
from wardgate.routing.execute import Executor
from wardgate.routing.stage import RouterStage
from wardgate.routing.state import RoutingState
from wardgate.store.audit import AuditEntry
from wardgate.store.usage import UsageEvent

if TYPE_CHECKING:  # loaded only when identity.jwt (telemetry, mcp:, prompts:, redis:) is configured
    from wardgate.identity.jwt import JWTVerifier
    from wardgate.prompts.stage import PromptsStage


def build_runtime(
    settings: Settings,
    http: UpstreamHTTP,
    key_cache: KeyCache,
    audit: BatchWriter[AuditEntry],
    ledger: BatchWriter[UsageEvent],
    jwt: JWTVerifier | None,
    cache: ResponseCache,
    routing: RoutingState,
    limits: LimitsStage | None,
    cost_of: CostOf,
    key_uses: KeyUseTally | None = None,
    guards: GuardsStage | None = None,
    prompts: PromptsStage | None = None,
    telemetry: Stage | None = None,
) -> Runtime:
    """The pipeline, in order: identity → accounting (its after hook runs last: it sees every outcome) → prompts
    (a named prompt is rendered and chooses the model) → model access (once, for every later stage) → guards (they
    see the rendered prompt) → limits (reserve before, settle after) → cache (a hit ends the forward pass) → router
    → the provider (terminal)."""
    assert settings.master_key is not None, "validated at load"
    mtls_config, ttl_s = settings.identity.mtls, settings.identity.key_cache_ttl_s
    directory = ProjectDirectory(key_cache.tenancy, ttl_s, outage=key_cache.outage)
    mtls = MTLSIdentity(mtls_config, directory) if mtls_config else None
    identity = IdentityStage(
        settings.master_key.get_secret_value(),
        key_cache,
        audit,
        settings.identity.key_use_audit,
        jwt=jwt,
        mtls=mtls,
        key_uses=key_uses,
    )
    adapters = build_adapters(settings, http)
    deployments = build_deployments(settings, adapters)
    # accounting before the access check: its after hook runs last and records every outcome, refusals included
    stages: list[Stage] = [identity, AccountingStage(ledger, cost_of)]
    if prompts is not None:  # before the model check: a prompt's version names the model
        stages.append(prompts)
    stages.append(ModelAccessStage(settings.models))
    # guards: after identity (they are chosen per project, key …) and the prompt's rendering (they check what goes
    # upstream), before limits (a blocked request costs nothing)
    if guards is not None:  # (always, in a worker: guards made in the admin API apply without a restart)
        stages.append(guards)
    if telemetry is not None:  # first: its after hook runs last, once accounting has settled the call's usage
        stages.insert(0, telemetry)
    if limits is not None:
        stages.append(limits)
    # the cache: after limits (a hit still counts against rate limits), before the router (a hit calls no provider)
    cache_stage = build_cache_stage(settings, cache, cost_of, deployments)
    if cache_stage is not None:
        stages.append(cache_stage)
    routes = build_routes(settings.models, deployments, deployment_prices(settings), routing)
    stages.append(RouterStage(routes))
    return Runtime(
        pipeline=Pipeline(stages, Executor(routes, routing)),  # the terminal: retries, fall-backs, breakers
        authenticate=identity.authenticate,
        model_names=tuple(settings.models),
        deployments=deployments,
        max_body_bytes=settings.server.max_body_bytes,
        max_upload_bytes=settings.server.max_upload_bytes,
        read_client_cert=mtls.read if mtls is not None else None,
        prompts=prompts is not None,
        responses_model=settings.responses.default_model,
        files=file_host(settings, adapters),
    )


def file_host(settings: Settings, adapters: dict[str, Adapter]) -> object | None:
    """The provider of ``files.provider`` as the holder of files and batches (providers/files.py)."""
    if settings.files is None:
        return None
    adapter = adapters[settings.files.provider]
    make = getattr(adapter, "file_host", None)
    if make is None or not adapter.supports("batches"):
        raise ValueError(
            f"files.provider: {settings.files.provider!r} (type {adapter.type}) has no files and batches API; "
            "use a provider of type openai"
        )
    host: object = make()
    return host
