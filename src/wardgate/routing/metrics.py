"""Prometheus samples of routing: per model (calls, attempts, retries, fall-backs, classifier decisions), per
deployment (requests, failures by kind, in flight, EWMAs, success ratio, breaker) and per canary arm.

Counters are this worker's since it started (observability/metrics.py sums them over the server's workers); gauges
are the routing view at scrape time, which with Redis is the view merged across workers and replicas. Nothing is
computed on the request path.
"""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.observability.metrics import Collector, Sample
from wardgate.routing.state import RoutingState

_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_CANARY = {"active": 0.0, "promoted": 1.0, "rolled_back": 2.0}
_ROUTE_COUNTERS = (
    ("calls", "calls routed by this worker"),
    ("attempts", "calls sent upstream, retries and fall-backs included"),
    ("retries", "retries on the same deployment"),
    ("fallbacks", "attempts on a deployment other than the first one chosen"),
    ("exhausted", "calls that failed after every allowed attempt"),
    ("classifier_errors", "calls routed unclassified because the classifier raised"),
)
_HEALTH_GAUGES = (
    ("latency_ewma_s", "wardgate_deployment_latency_ewma_seconds", "EWMA latency of non-streamed calls"),
    ("ttft_ewma_s", "wardgate_deployment_ttft_ewma_seconds", "EWMA time to the first streamed chunk"),
    ("success_rate", "wardgate_deployment_success_ratio", "share of successful calls over the health window"),
)


def routing_collector(state: RoutingState) -> Collector:
    """For ``Metrics.add``: the routing samples of this worker."""

    async def collect() -> Iterable[Sample]:
        return samples(state)

    return collect


def samples(state: RoutingState) -> list[Sample]:
    now = state.clock()
    out: list[Sample] = []
    for route in state.routes.values():
        model = {"model": route.model}
        counters = route.counters
        for field, text in _ROUTE_COUNTERS:
            value = float(getattr(counters, field))
            out.append(Sample(f"wardgate_route_{field}_total", model, value, text, "counter"))
        for cls, n in sorted(counters.classified.items()):
            labels = {**model, "model_class": cls}
            out.append(Sample("wardgate_route_classified_total", labels, float(n), "classifier decisions", "counter"))
        canary = route.canary
        if canary is None:
            continue
        labels = {**model, "deployment": canary.target.name}
        out.append(
            Sample("wardgate_canary_status", labels, _CANARY[canary.status], "0 active, 1 promoted, 2 rolled back")
        )
        for arm, stats in canary.arms.items():
            ok, failed = stats.counts(now)
            arm_labels = {**labels, "arm": arm}
            out.append(Sample("wardgate_canary_window_requests", arm_labels, float(ok + failed), "outcomes in window"))
            out.append(Sample("wardgate_canary_window_errors", arm_labels, float(failed), "failures in window"))
            p95 = stats.p95(now)
            if p95 is not None:
                out.append(Sample("wardgate_canary_p95_seconds", arm_labels, p95, "p95 latency over the window"))
    for entry in state.snapshot():
        labels = {"deployment": entry["deployment"], "provider": entry["provider"]}
        health, breaker = entry["health"], entry["breaker"]
        out += [
            Sample(
                "wardgate_deployment_requests_total", labels, float(health["requests_total"]), "outcomes", "counter"
            ),
            Sample("wardgate_deployment_in_flight", labels, float(health["in_flight"]), "calls in flight"),
            Sample("wardgate_breaker_state", labels, _BREAKER[breaker["state"]], "0 closed, 1 half-open, 2 open"),
            Sample("wardgate_breaker_opened_total", labels, float(breaker["opened_total"]), "trips", "counter"),
        ]
        for kind, n in sorted(health["failures_by_kind"].items()):
            out.append(
                Sample("wardgate_deployment_failures_total", {**labels, "kind": kind}, float(n), "failures", "counter")
            )
        for key, name, text in _HEALTH_GAUGES:
            if health[key] is not None:
                out.append(Sample(name, labels, float(health[key]), text))
    out.append(
        Sample("wardgate_routing_sync_failures_total", {}, float(state.sync_failures), "failed Redis merges", "counter")
    )
    return out
