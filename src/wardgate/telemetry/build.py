"""``telemetry:`` → the telemetry stage and what it holds (the worker closes it at shutdown)."""

from __future__ import annotations

import aiohttp

from wardgate.config.schema import Settings
from wardgate.core.call import CostOf
from wardgate.telemetry import semconv
from wardgate.telemetry.access import RequestLog
from wardgate.telemetry.metric_export import MetricExport
from wardgate.telemetry.metrics import RequestMetrics
from wardgate.telemetry.stage import TelemetryStage
from wardgate.telemetry.tracing import OtlpHttp, Tracing, worker_resource


def provider_names(settings: Settings) -> dict[str, str]:
    """Configured provider name → its ``gen_ai.provider.name`` (well-known value of its type, else the type)."""
    out: dict[str, str] = {}
    for name, config in settings.providers.items():
        ptype = str(getattr(config, "type", name))
        out[name] = semconv.PROVIDERS.get(ptype, ptype)
    return out


def build_telemetry(settings: Settings, cost_of: CostOf, session: aiohttp.ClientSession) -> TelemetryStage:
    """``session``: the worker's HTTP session, which the span and metric exports POST through. Called on the worker's
    event loop: the metric export's interval starts here."""
    config = settings.telemetry
    assert config is not None
    metrics = RequestMetrics(settings.models, config.metrics.max_series)
    endpoint = config.otlp_endpoint
    resource = worker_resource(config)  # the same for the worker's spans and metrics
    tracing = None
    if endpoint is not None:
        tracing = Tracing(config, OtlpHttp(session, endpoint, config.export_timeout_s).send, resource)
    form = config.access_log
    stage = TelemetryStage(
        metrics,
        cost_of,
        provider_names(settings),
        tracing=tracing,
        capture_content=config.capture_content,
        latest=semconv.latest_experimental(),
        request_log=RequestLog(form) if form != "off" else None,
    )
    if endpoint is not None:  # its refresh is the stage's: metrics are brought up to date as for a scrape
        post = OtlpHttp(session, endpoint, config.export_timeout_s, "/v1/metrics").send
        interval = config.metrics.export_interval_s
        stage.metric_export = MetricExport(metrics.exported, resource.attributes, post, interval, stage.process)
        stage.metric_export.start()
    return stage
