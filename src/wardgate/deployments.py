"""Config → the deployments a worker routes to: one adapter per provider, one ``Deployment`` per model entry (its
timeouts, weight, pinned version), and each deployment's blended price for the lowest-cost strategy."""

from __future__ import annotations

from collections.abc import Callable

from wardgate.config.schema import DeploymentConfig, Settings, TimeoutsConfig
from wardgate.core.deployment import Adapter, Deployment, Timeouts
from wardgate.providers import registry
from wardgate.providers.http import UpstreamHTTP
from wardgate.routing.strategies import blended_price
from wardgate.usage.cost import price_table


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
