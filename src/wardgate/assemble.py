"""Config → the pipeline's stages, in order. The one place that knows every stage; called at start-up and reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from wardgate.accounting.cost import price_table
from wardgate.accounting.stage import AccountingStage, CostOf
from wardgate.cache.build import build_cache_stage
from wardgate.cache.runtime import cache_of
from wardgate.config.schema import DeploymentConfig, Settings, TimeoutsConfig
from wardgate.core.deployment import Adapter, Deployment, Timeouts
from wardgate.core.pipeline import Pipeline, Stage
from wardgate.core.principal import Principal
from wardgate.identity.external import ProjectDirectory
from wardgate.identity.keys import IdentityStage
from wardgate.identity.mtls import MTLSIdentity
from wardgate.limits.stage import LimitsStage
from wardgate.providers import registry
from wardgate.providers.http import UpstreamHTTP
from wardgate.routing.build import build_routes
from wardgate.routing.execute import Executor
from wardgate.routing.stage import RouterStage
from wardgate.routing.state import state_for
from wardgate.routing.strategies import blended_price
from wardgate.services import Services


class Authenticate(Protocol):
    def __call__(
        self, credential: str | None, model: str | None = None, *, client_cert: str | None = None
    ) -> Awaitable[Principal]: ...


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a request needs, built once from one config; replaced whole on reload."""

    pipeline: Pipeline
    authenticate: Authenticate
    model_names: tuple[str, ...]
    deployments: dict[str, tuple[Deployment, ...]]
    max_body_bytes: int
    read_client_cert: Callable[[Mapping[str, Any]], str | None] | None = None  # identity.mtls: its header, if trusted


def build_adapters(settings: Settings, http: UpstreamHTTP) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    for name, config in settings.providers.items():
        ptype = registry.get(config.type)
        assert ptype is not None, "validated at load"
        adapters[name] = ptype.factory(name, config, http)
    return adapters


def _timeouts(config: TimeoutsConfig) -> Timeouts:
    return Timeouts(connect=config.connect, first_byte=config.first_byte, total=config.total)


def build_deployments(settings: Settings, adapters: dict[str, Adapter]) -> dict[str, tuple[Deployment, ...]]:
    out: dict[str, tuple[Deployment, ...]] = {}
    for public, entries in settings.models.items():
        deployments = []
        for entry in entries:
            provider_config = settings.providers[entry.provider]
            timeouts = entry.timeouts or getattr(provider_config, "timeouts", None) or TimeoutsConfig()
            deployments.append(
                Deployment(
                    name=f"{entry.provider}/{entry.model}",
                    provider=entry.provider,
                    upstream_model=entry.pin or entry.model,  # a pinned version is sent as written
                    adapter=adapters[entry.provider],
                    timeouts=_timeouts(timeouts),
                    weight=entry.weight,
                )
            )
        out[public] = tuple(deployments)
    return out


def deployment_prices(settings: Settings) -> Callable[[DeploymentConfig], float | None]:
    """A deployment's blended price (USD per 1M tokens) for the lowest_cost strategy: its `price:`, else the
    catalog's, as accounting prices it."""
    table = price_table(settings)

    def price_of(entry: DeploymentConfig) -> float | None:
        provider_type = getattr(settings.providers[entry.provider], "type", "")
        price = table.for_deployment(f"{entry.provider}/{entry.model}", provider_type, entry.model)
        return None if price is None else blended_price(float(price.input), float(price.output))

    return price_of


def assemble(settings: Settings, services: Services, cost_of: CostOf, limits: LimitsStage | None = None) -> Runtime:
    """The pipeline, in order: identity → accounting (its after hook runs last: it sees every outcome) → limits
    (reserve before, settle after) → cache (a hit ends the forward pass) → router → the provider (terminal)."""
    assert settings.master_key is not None, "validated at load"
    mtls_config, ttl_s = settings.identity.mtls, settings.identity.key_cache_ttl_s
    mtls = MTLSIdentity(mtls_config, ProjectDirectory(services.tenancy, ttl_s)) if mtls_config else None
    identity = IdentityStage(
        settings.master_key.get_secret_value(),
        services.key_cache,
        services.audit,
        settings.identity.key_use_audit,
        jwt=services.jwt,
        mtls=mtls,
    )
    deployments = build_deployments(settings, build_adapters(settings, services.http))
    stages: list[Stage] = [identity, AccountingStage(services.ledger, cost_of)]
    if limits is not None:
        stages.append(limits)
    # the cache: after limits (a hit still counts against rate limits), before the router (a hit calls no provider)
    cache = build_cache_stage(settings, cache_of(services), cost_of, deployments)
    if cache is not None:
        stages.append(cache)
    routing = state_for(services)
    routes = build_routes(settings.models, deployments, deployment_prices(settings), routing)
    stages.append(RouterStage(routes))
    runtime = Runtime(
        pipeline=Pipeline(stages, Executor(routes, routing)),  # the terminal: retries, fall-backs, breakers
        authenticate=identity.authenticate,
        model_names=tuple(settings.models),
        deployments=deployments,
        max_body_bytes=settings.server.max_body_bytes,
        read_client_cert=mtls.read if mtls is not None else None,
    )
    return runtime
