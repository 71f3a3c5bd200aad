"""Which failures are the deployment's (and may be retried or routed around), and how long to wait before a retry.
Pure functions: the executor (execute.py) applies them."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from wardgate.config.routing import BackoffConfig, FailureKind
from wardgate.core.errors import (
    InvalidRequest,
    ModelNotFound,
    NotFound,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    WardgateError,
)

STALLED = "stream_stalled"  # code of the UpstreamTimeout raised when a stream sends nothing in time
DEADLINE = "deadline_exceeded"  # code of the UpstreamTimeout raised when the model's deadline_s is over
REFUSED = "content_filter"
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "content_filtered", "moderation_blocked"})
_POLICY_WORDS = ("content policy", "content_policy", "content management policy", "safety system", "usage policies")


def failure_kind(exc: WardgateError, *, before_first_chunk: bool = False) -> FailureKind | None:
    """The deployment's failure this error shows, or None when the request itself is at fault (a 400, a 413):
    another deployment would refuse it too, so it is neither retried nor held against the deployment's health."""
    if isinstance(exc, UpstreamRateLimited):
        return "rate_limit"
    if isinstance(exc, UpstreamTimeout):
        return "stall" if before_first_chunk or exc.code == STALLED else "timeout"
    if isinstance(exc, UpstreamUnavailable):
        return "connection"
    if isinstance(exc, UpstreamError):
        return "auth" if exc.code == "upstream_auth_error" else "server_error"
    if isinstance(exc, NotFound) and not isinstance(exc, ModelNotFound):
        return "not_found"  # the provider does not know the deployment's model: a config problem of that deployment
    if isinstance(exc, InvalidRequest) and _is_policy(exc.code, exc.message):
        return "content_policy"
    return None


def _is_policy(code: str | None, message: str) -> bool:
    if code in _POLICY_CODES:
        return True
    lowered = message.lower()
    return any(words in lowered for words in _POLICY_WORDS)


def is_refusal(body: Mapping[str, Any]) -> bool:
    """An answer the provider's content filter cut (``finish_reason: content_filter``), which another provider may
    well give: a fall-back when ``content_policy`` is in ``fallback_on``."""
    choices = body.get("choices")
    if not isinstance(choices, list):
        return False
    return any(isinstance(c, dict) and c.get("finish_reason") == REFUSED for c in choices)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the provider asked to wait: ``retry-after-ms``, else ``retry-after`` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def retry_delay(exc: WardgateError, retry: int, backoff: BackoffConfig, rng: random.Random) -> float | None:
    """How long to wait before retry number ``retry`` (0 for the first) on the same deployment, or None to move on
    at once: the provider asked for longer than ``max_retry_after_s``.

    Retry-After wins when the provider sent one; otherwise exponential backoff with equal jitter (half the step
    fixed, half random), so concurrent retries spread out without any of them retrying immediately."""
    asked = retry_after(exc.headers)
    if asked is not None:
        return asked if asked <= backoff.max_retry_after_s else None
    step = min(backoff.max_s, backoff.base_s * 2.0**retry)
    return step / 2 + rng.uniform(0, step / 2)
