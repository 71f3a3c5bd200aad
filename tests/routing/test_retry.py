"""Which failures are the deployment's, and how long a retry waits: pure functions."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from wardgate.config.routing import BackoffConfig
from wardgate.core.errors import (
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PayloadTooLarge,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    WardgateError,
)
from wardgate.providers.http import error_from_status
from wardgate.routing.retry import failure_kind, is_refusal, retry_after, retry_delay


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UpstreamRateLimited("x"), "rate_limit"),
        (UpstreamTimeout("x"), "timeout"),
        (UpstreamUnavailable("x"), "connection"),
        (UpstreamError("x", status=503), "server_error"),
        (error_from_status("p", 401, "bad key"), "auth"),
        (error_from_status("p", 529, "overloaded"), "server_error"),
        (NotFound("x"), "not_found"),
        (InvalidRequest("x", code="content_policy_violation"), "content_policy"),
        (InvalidRequest("Your prompt was flagged by our safety system."), "content_policy"),
        (InvalidRequest("bad temperature"), None),
        (PayloadTooLarge("x"), None),
        (ModelNotFound("x"), None),
    ],
)
def test_failure_kinds(error: WardgateError, kind: str | None) -> None:
    assert failure_kind(error) == kind


def test_a_timeout_before_a_streams_first_chunk_is_a_stall() -> None:
    assert failure_kind(UpstreamTimeout("x"), before_first_chunk=True) == "stall"


def test_retry_after_reads_seconds_milliseconds_and_dates() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "7"}) == 0.25
    assert retry_after({"retry-after": "-3"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    date = format_datetime(datetime(2030, 1, 1, 0, 0, 12, tzinfo=UTC), usegmt=True)
    assert retry_after({"retry-after": date}, now) == 12.0


def test_the_delay_honours_retry_after_up_to_the_cap() -> None:
    backoff = BackoffConfig(max_retry_after_s=10)
    rng = random.Random(0)
    assert retry_delay(UpstreamRateLimited("x", headers={"retry-after": "9"}), 0, backoff, rng) == 9.0
    assert retry_delay(UpstreamRateLimited("x", headers={"retry-after": "11"}), 0, backoff, rng) is None


def test_the_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    backoff = BackoffConfig(base_s=0.5, max_s=4)
    rng = random.Random(5)
    for retry, (low, high) in enumerate([(0.25, 0.5), (0.5, 1), (1, 2), (2, 4), (2, 4)]):
        delays = {retry_delay(UpstreamError("x"), retry, backoff, rng) for _ in range(50)}
        assert all(d is not None and low <= d <= high for d in delays)
        assert len(delays) > 1  # jittered


def test_a_content_filter_finish_is_a_refusal() -> None:
    assert is_refusal({"choices": [{"finish_reason": "content_filter"}]})
    assert not is_refusal({"choices": [{"finish_reason": "stop"}]})
    assert not is_refusal({})
