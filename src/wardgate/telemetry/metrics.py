"""Per-request metrics of the telemetry stage: the GenAI semconv histograms under their Prometheus names, and
Wardgate's own counters (requests, errors, tokens, spend, cache, retries, timeouts).

Every label value comes from the config or from Wardgate's own code, never from the client: the model label is a
configured public model or ``unknown`` (a typo'd or junk model name never mints a series), the deployment and
provider are configured names, the error type is one of Wardgate's error types. Users and end users are never labels.
On top of that every metric is capped at ``telemetry.metrics.max_series`` label sets (observability/bounded.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.core.call import Call
from wardgate.observability.bounded import CappedCounter, CappedHistogram
from wardgate.observability.metrics import Sample
from wardgate.telemetry import semconv

UNKNOWN = "unknown"
NANO = 1e-9


def prometheus_name(semconv_name: str, unit: str) -> str:
    """OpenTelemetry's Prometheus naming: dots to underscores, the unit as a suffix when it is a base unit
    (``s`` → ``_seconds``); annotations in braces (``{token}``) add nothing."""
    name = semconv_name.replace(".", "_")
    return name + "_seconds" if unit == "s" else name


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
        model = self.model_label(call.model)
        deployment = call.deployment
        deployment_name = deployment.name if deployment is not None else "none"
        response_model = deployment.upstream_model if deployment is not None else "none"
        principal = call.principal
        project = (principal.project or "none") if principal is not None else "none"
        operation = semconv.OPERATIONS.get(call.operation, call.operation)
        genai = (operation, provider, model, response_model)
        by = (model, deployment_name, project)
        self.requests.inc((*by, str(status)))
        self.duration.observe((*genai, error_type or ""), duration_s)
        if error_type is not None:
            self.errors.inc((*by, error_type))
        route = call.route
        if route is not None:
            for failure in route.failed:  # "<deployment>:<failure kind>", both from Wardgate's own names
                failed_deployment, _, kind = failure.rpartition(":")
                self.upstream.inc((failed_deployment, kind))
        usage = call.usage
        if usage is None or principal is None:
            return
        self.token_usage.observe((*genai, "input"), usage.input_tokens)
        self.token_usage.observe((*genai, "output"), usage.output_tokens)
        for kind, n in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cached", usage.cached_tokens),
            ("cache_write", usage.cache_write_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if n:
                self.tokens.inc((*by, kind), n)
        if cost_nanousd:
            self.spend.inc(by, cost_nanousd)
        first = call.first_token_at
        if call.stream and first is not None:
            self.ttft.observe(genai, first - call.started)
            if usage.output_tokens > 1:
                self.tpot.observe(genai, (now - first) / (usage.output_tokens - 1))

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for family in self.families:
            out.extend(family.samples())
        return out
