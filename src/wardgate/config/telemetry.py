"""The `telemetry:` and `alerts:` config sections (issue 15; docs/observability.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wardgate.config.limits import Scope

AccessLogFormat = Literal["json", "text", "off"]
ALERT_SCOPES = ("global", "project", "team", "user", "key", "model")
Signal = Literal["spend_usd", "requests", "tokens", "error_rate", "ttft_p95", "latency_p95", "guard_blocks"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _otlp_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318")
    return value.rstrip("/")


class TelemetryMetricsConfig(_Frozen):
    # label sets per metric; a new one past the cap is counted in one series whose labels are all `other`
    max_series: Annotated[int, Field(ge=1, le=1_000_000)] = 2000
    # with `otlp_endpoint`: every this often, the GenAI semconv metrics and the counters go to {endpoint}/v1/metrics
    export_interval_s: Annotated[float, Field(ge=1, le=86_400)] = 60.0


class TelemetryConfig(_Frozen):
    otlp_endpoint: str | None = None  # OTLP/HTTP base URL ({endpoint}/v1/traces, /v1/metrics); unset: no export
    service_name: Annotated[str, Field(min_length=1, max_length=200)] = "wardgate"
    sample_ratio: Annotated[float, Field(ge=0, le=1)] = 1.0
    capture_content: bool = False  # prompt and answer text in spans only when true
    metrics: TelemetryMetricsConfig = TelemetryMetricsConfig()
    access_log: AccessLogFormat = "off"  # one line per AI request (logger wardgate.requests)
    export_queue: Annotated[int, Field(ge=16, le=1_000_000)] = 2048  # spans held for export; more are dropped
    export_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0

    @field_validator("access_log", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML reads a bare `off` as false

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return _otlp_url(value)


class ThresholdDetector(_Frozen):
    type: Literal["threshold"]
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> ThresholdDetector:
        if self.above is None and self.below is None:
            raise ValueError("give `above`, `below` or both")
        return self


class SeasonalDetector(_Frozen):
    type: Literal["seasonal"]
    sensitivity: Annotated[float, Field(gt=0, le=100)] = 3.0  # robust z-score above which a window is anomalous


class ThrottleAction(_Frozen):
    rpm: Annotated[int, Field(gt=0, le=100_000_000)]
    for_s: Annotated[float, Field(gt=0, le=86_400)] = 900


class ThrottleSpec(_Frozen):
    throttle: ThrottleAction


class WebhookTarget(_Frozen):
    webhook: Annotated[str, Field(min_length=1)]
    format: Literal["wardgate", "alertmanager"] = "wardgate"

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class AlertConfig(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    signal: Signal
    scope: Scope = "global"
    match: str | None = None
    detector: Annotated[ThresholdDetector | SeasonalDetector, Field(discriminator="type")]
    window_s: Annotated[int, Field(ge=60, le=86_400)] = 300
    notify: list[WebhookTarget] = Field(default_factory=list)
    action: Literal["warn"] | ThrottleSpec = "warn"

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if value not in ALERT_SCOPES:
            raise ValueError(f"alerts read the ledger, which has no {value!r}: use one of {', '.join(ALERT_SCOPES)}")
        return value

    @model_validator(mode="after")
    def _scoped(self) -> AlertConfig:
        if self.scope == "global" and self.match is not None:
            raise ValueError("a global alert has no `match`")
        return self
