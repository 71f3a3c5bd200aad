"""``telemetry:`` → the telemetry stage and what it holds (the worker closes it at shutdown)."""

from __future__ import annotations

import aiohttp

from wardgate.config.schema import Settings
from wardgate.core.call import CostOf
from wardgate.telemetry import semconv
from wardgate.telemetry.access import RequestLog
from wardgate.telemetry.metrics import RequestMetrics
from wardgate.telemetry.stage import TelemetryStage
from wardgate.telemetry.tracing import OtlpHttp, Tracing


def provider_names(settings: Settings) -> dict[str, str]:
    """Configured provider name → its ``gen_ai.provider.name`` (well-known value of its type, else the type)."""
    out: dict[str, str] = {}
    for name, config in settings.providers.items():
        ptype = str(getattr(config, "type", name))
        out[name] = semconv.PROVIDERS.get(ptype, ptype)
    return out


def build_telemetry(settings: Settings, cost_of: CostOf, session: aiohttp.ClientSession) -> TelemetryStage:
    """``session``: the worker's HTTP session, which the span export POSTs through."""
    config = settings.telemetry
    assert config is not None
    tracing = None
    if config.otlp_endpoint is not None:
        tracing = Tracing(config, OtlpHttp(session, config.otlp_endpoint, config.export_timeout_s).send)
    form = config.access_log
    return TelemetryStage(
        RequestMetrics(settings.models, config.metrics.max_series),
        cost_of,
        provider_names(settings),
        tracing=tracing,
        capture_content=config.capture_content,
        latest=semconv.latest_experimental(),
        request_log=RequestLog(form) if form != "off" else None,
    )
