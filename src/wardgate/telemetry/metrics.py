"""Per-request metrics of the telemetry stage: the GenAI semconv histograms under their Prometheus names, and
Wardgate's own counters (requests, errors, tokens, spend, cache, retries, timeouts).

Every label value comes from the config or from Wardgate's own code, never from the client: the model label is a
configured public model or ``unknown`` (a typo'd or junk model name never mints a series), the deployment and
provider are configured names, the error type is one of Wardgate's error types. Users and end users are never labels.
On top of that every metric is capped at ``telemetry.metrics.max_series`` label sets (observability/bounded.py).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any, NamedTuple

from wardgate.core.call import Call
from wardgate.observability.bounded import CappedCounter, CappedHistogram
from wardgate.observability.metrics import Sample
from wardgate.telemetry import semconv

UNKNOWN = "unknown"
NANO = 1e-9
DURATION_BUCKETS, TOKEN_BUCKETS = semconv.DURATION_BUCKETS, semconv.TOKEN_BUCKETS


def prometheus_name(semconv_name: str, unit: str) -> str:
    """OpenTelemetry's Prometheus naming: dots to underscores, the unit as a suffix when it is a base unit
    (``s`` → ``_seconds``); annotations in braces (``{token}``) add nothing."""
    name = semconv_name.replace(".", "_")
    return name + "_seconds" if unit == "s" else name


class ExportedMetric(NamedTuple):
    """How one family is exported over OTLP (otlp_metrics.py): its OpenTelemetry name, unit, description and the
    attribute key of each label. The series are the family's own, so OTLP and ``/metrics`` show the same ones."""

    family: CappedCounter | CappedHistogram
    name: str
    unit: str
    description: str
    attributes: tuple[str, ...]


# label combinations of a call (model, provider, status …) whose series are kept found; a full cache starts over
MAX_COMBINATIONS = 4096


def _resolve(
    slots: dict[str, list[float]], name: str, family: CappedCounter | CappedHistogram, values: tuple[str, ...]
) -> list[float]:
    """The slot ``family`` updates for ``values`` (its series made if new), kept in ``slots`` under ``name`` when it
    is that label set's own series. Past the cap it is the `other` series, not kept: each update then comes here
    again, so the family counts every one in ``overflowed``, and a series made later (never: series are not
    removed) could not be missed."""
    slot = family.slot(values)
    if family.series.get(values) is slot:
        slots[name] = slot
    return slot


def _observe(slot: list[float], buckets: tuple[float, ...], value: float) -> None:
    """``CappedHistogram.observe`` on a slot already found."""
    slot[bisect_left(buckets, value)] += 1  # `le` is inclusive: a value equal to a bound is in its bucket
    slot[-2] += value
    slot[-1] += 1


class RequestMetrics:
    """One worker's request metrics; ``record`` runs once per call in the stage's after hook."""

    def __init__(self, models: Iterable[str], max_series: int) -> None:
        self.models = frozenset(models)
        genai = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model")
        n = max_series
        self.token_usage = CappedHistogram(
            prometheus_name(semconv.TOKEN_USAGE, "{token}"),
            "Tokens used per request (gen_ai.client.token.usage)",
            (*genai, "gen_ai_token_type"),
            n,
            semconv.TOKEN_BUCKETS,
        )
        self.duration = CappedHistogram(
            prometheus_name(semconv.OPERATION_DURATION, "s"),
            "Request duration (gen_ai.client.operation.duration)",
            (*genai, "error_type"),
            n,
            semconv.DURATION_BUCKETS,
        )
        self.ttft = CappedHistogram(
            prometheus_name(semconv.TIME_TO_FIRST_TOKEN, "s"),
            "Time to the first streamed token (gen_ai.server.time_to_first_token)",
            genai,
            n,
            semconv.TTFT_BUCKETS,
        )
        self.tpot = CappedHistogram(
            prometheus_name(semconv.TIME_PER_OUTPUT_TOKEN, "s"),
            "Time per output token after the first (gen_ai.server.time_per_output_token)",
            genai,
            n,
            semconv.TPOT_BUCKETS,
        )
        by = ("model", "deployment", "project")
        self.requests = CappedCounter("wardgate_requests_total", "requests by outcome", (*by, "status"), n)
        self.errors = CappedCounter("wardgate_errors_total", "failed requests by error type", (*by, "error_type"), n)
        self.tokens = CappedCounter("wardgate_tokens_total", "tokens as the ledger counts them", (*by, "type"), n)
        # counted in integer nano-dollars (exact in a float up to $9M per series), shown in USD
        self.spend = CappedCounter("wardgate_spend_usd_total", "spend in USD as the ledger prices it", by, n, NANO)
        self.upstream = CappedCounter(
            "wardgate_upstream_failures_total", "failed upstream attempts (retried or not)", ("deployment", "kind"), n
        )
        # a call's label combination → (genai labels, by labels, the slots it updated, by name)
        self._combinations: dict[tuple[Any, ...], tuple[tuple[str, ...], tuple[str, ...], dict[str, list[float]]]] = {}
        self.families: tuple[CappedCounter | CappedHistogram, ...] = (
            self.token_usage,
            self.duration,
            self.ttft,
            self.tpot,
            self.requests,
            self.errors,
            self.tokens,
            self.spend,
            self.upstream,
        )

        genai_keys = (semconv.OPERATION_NAME, semconv.PROVIDER_NAME, semconv.REQUEST_MODEL, semconv.RESPONSE_MODEL)
        semconv_metrics = (
            (self.token_usage, semconv.TOKEN_USAGE_DEF, (*genai_keys, semconv.TOKEN_TYPE)),
            (self.duration, semconv.OPERATION_DURATION_DEF, (*genai_keys, semconv.ERROR_TYPE)),
            (self.ttft, semconv.TIME_TO_FIRST_TOKEN_DEF, genai_keys),
            (self.tpot, semconv.TIME_PER_OUTPUT_TOKEN_DEF, genai_keys),
        )
        units = {
            "wardgate_requests_total": "{request}",
            "wardgate_errors_total": "{error}",
            "wardgate_tokens_total": "{token}",
            "wardgate_spend_usd_total": "USD",
            "wardgate_upstream_failures_total": "{failure}",
        }
        self.exported = (
            *(ExportedMetric(family, *definition, keys) for family, definition, keys in semconv_metrics),
            # Wardgate's counters as monotonic sums, named so that OpenTelemetry's Prometheus naming gives them
            # their /metrics names back (`_total` added); their labels are their attribute keys
            *(
                ExportedMetric(c, c.name.removesuffix("_total"), units[c.name], c.help, c.label_names)
                for c in (self.requests, self.errors, self.tokens, self.spend, self.upstream)
            ),
        )

    def model_label(self, model: str) -> str:
        return model if model in self.models else UNKNOWN

    def record(
        self,
        call: Call,
        provider: str,
        status: int,
        error_type: str | None,
        cost_nanousd: int | None,
        duration_s: float,
        now: float,
    ) -> None:
        model = call.model
        if model not in self.models:
            model = UNKNOWN
        deployment = call.deployment
        principal = call.principal
        key = (
            model,
            provider,
            status,
            error_type,
            call.operation,
            deployment.name if deployment is not None else "none",
            deployment.upstream_model if deployment is not None else "none",
            (principal.project or "none") if principal is not None else "none",
        )
        series = self._combinations.get(key)
        if series is None:
            series = self._combination(key)
        genai, by, slots = series
        # every update is CappedCounter.inc's / CappedHistogram.observe's, on the slot found the first time
        # (`le` is inclusive: a value equal to a bound is in its bucket); written out, as this runs once per call
        slot = slots.get("requests") or _resolve(slots, "requests", self.requests, (*by, str(status)))
        slot[0] += 1
        slot = slots.get("duration") or _resolve(slots, "duration", self.duration, (*genai, error_type or ""))
        slot[bisect_left(DURATION_BUCKETS, duration_s)] += 1
        slot[-2] += duration_s
        slot[-1] += 1
        if error_type is not None:
            slot = slots.get("errors") or _resolve(slots, "errors", self.errors, (*by, error_type))
            slot[0] += 1
        route = call.route
        if route is not None and route.failed:
            for failure in route.failed:  # "<deployment>:<failure kind>", both from Wardgate's own names
                failed_deployment, _, kind = failure.rpartition(":")
                self.upstream.inc((failed_deployment, kind))
        usage = call.usage
        if usage is None or principal is None:
            return
        input_tokens, output_tokens = usage.input_tokens, usage.output_tokens
        slot = slots.get("usage:input") or _resolve(slots, "usage:input", self.token_usage, (*genai, "input"))
        slot[bisect_left(TOKEN_BUCKETS, input_tokens)] += 1
        slot[-2] += input_tokens
        slot[-1] += 1
        slot = slots.get("usage:output") or _resolve(slots, "usage:output", self.token_usage, (*genai, "output"))
        slot[bisect_left(TOKEN_BUCKETS, output_tokens)] += 1
        slot[-2] += output_tokens
        slot[-1] += 1
        if input_tokens:
            slot = slots.get("input") or _resolve(slots, "input", self.tokens, (*by, "input"))
            slot[0] += input_tokens
        if output_tokens:
            slot = slots.get("output") or _resolve(slots, "output", self.tokens, (*by, "output"))
            slot[0] += output_tokens
        n = usage.cached_tokens
        if n:
            slot = slots.get("cached") or _resolve(slots, "cached", self.tokens, (*by, "cached"))
            slot[0] += n
        n = usage.cache_write_tokens
        if n:
            slot = slots.get("cache_write") or _resolve(slots, "cache_write", self.tokens, (*by, "cache_write"))
            slot[0] += n
        n = usage.reasoning_tokens
        if n:
            slot = slots.get("reasoning") or _resolve(slots, "reasoning", self.tokens, (*by, "reasoning"))
            slot[0] += n
        if cost_nanousd:
            slot = slots.get("spend") or _resolve(slots, "spend", self.spend, by)
            slot[0] += cost_nanousd
        first = call.first_token_at
        if call.stream and first is not None:
            slot = slots.get("ttft") or _resolve(slots, "ttft", self.ttft, genai)
            _observe(slot, self.ttft.buckets, first - call.started)
            if output_tokens > 1:
                slot = slots.get("tpot") or _resolve(slots, "tpot", self.tpot, genai)
                _observe(slot, self.tpot.buckets, (now - first) / (output_tokens - 1))

    def _combination(self, key: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, list[float]]]:
        model, provider, _, _, operation, deployment_name, response_model, project = key
        genai = (semconv.OPERATIONS.get(operation, operation), provider, model, response_model)
        if len(self._combinations) >= MAX_COMBINATIONS:
            self._combinations.clear()
        found = self._combinations[key] = (genai, (model, deployment_name, project), {})
        return found

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for family in self.families:
            out.extend(family.samples())
        return out
