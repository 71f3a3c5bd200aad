"""Config → the guards stage."""

from __future__ import annotations

from decimal import Decimal

from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.guards.cost import CostEstimator
from wardgate.guards.engine import compile_guards
from wardgate.guards.stage import GuardsStage
from wardgate.store.audit import AuditEntry
from wardgate.usage.cost import price_table


def build_guards_stage(settings: Settings, audit: BatchWriter[AuditEntry] | None) -> GuardsStage:
    """Always assembled, since guards made in the admin API apply without a restart; with none, a call costs one
    empty-tuple test and a streamed chunk one attribute test."""
    return GuardsStage(
        compile_guards(settings.guards),
        settings.guards_stream.holdback_chars,
        audit,
        CostEstimator(dearest_prices(settings), settings.limits.output_estimate_tokens),
    )


def dearest_prices(settings: Settings) -> dict[str, tuple[Decimal, Decimal]]:
    """Per public model, the dearest input and output prices (USD per 1M tokens) of the deployments that may serve
    it: a request's worst case, as the limits stage prices it. Unpriced models are left out."""
    table = price_table(settings)
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for model, entries in settings.models.items():
        prices = []
        for entry in entries:
            provider_type = getattr(settings.providers[entry.provider], "type", "")
            price = table.for_deployment(f"{entry.provider}/{entry.model}", provider_type, entry.model)
            if price is not None:
                prices.append(price)
        if prices:
            out[model] = (max(p.input for p in prices), max(p.output for p in prices))
    return out


def reconfigure_guards(stage: GuardsStage, settings: Settings) -> None:
    """A config reload: the stream hold-back (``guards_stream``) and the cost guard's prices (models and providers
    may have changed), each one assignment; the guards themselves are the refresher's (``replace_config``)."""
    stage.holdback = settings.guards_stream.holdback_chars
    stage.cost = CostEstimator(dearest_prices(settings), settings.limits.output_estimate_tokens)
