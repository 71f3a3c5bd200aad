"""The served delay of an alert, end to end, in simulated time: two replicas' runners on one shared store (SQLite
and PostgreSQL), usage rows written through the ledger's batch writer as the gateway writes them and flushed at the
writer's interval, an incident (spend ×3, TTFT ×2, a 5 % error burst) starting between two ticks. The webhook is
called once, by one replica, at most 60 s after the incident started (issue 15, point 7).

Time is simulated: the runners evaluate when the simulated clock reaches their next tick, the ledger flushes every
``ledger.flush_interval_s`` of simulated time, and a webhook call is stamped with the simulated instant of the
evaluation that made it. Nothing sleeps and no assertion reads a real clock.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp import web

from tests.fakes.server import LoopbackServer, RecordedRequest
from tests.support import RunningGateway, gateway_from_yaml
from wardgate.alerts.runner import TICK_S, next_tick
from wardgate.config.schema import LedgerConfig
from wardgate.store.usage import UsageEvent, insert_events

WEEK = 7 * 86_400
START = 1_796_000_000.0 + 0.3  # the incident starts just after a tick (of the grid of multiples of TICK_S): the
# next one sees only its first seconds, less what the ledger writer has not flushed yet
BEFORE_S = 330  # normal traffic before it: the alert's 5-minute window is full
AFTER_S = 90
FLUSH_S = LedgerConfig().flush_interval_s
FLUSH_PHASE = 0.6  # the writer's flushes fall at this fraction of its interval
LAG_S = 6.5  # the second replica's clock runs this much behind the first's: it evaluates each tick later, on more rows
NORMAL_TTFT = [round(400 * math.exp(0.5 * z)) for z in (-1.6, -1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0, 1.6, 2.2)]


@dataclass(frozen=True)
class Case:
    signal: str
    rate: int  # rows a second in the live period (the history has 2)
    row: Callable[[int, bool], dict[str, object]]  # the n-th row's values, inside the incident or not


def _spend(n: int, hit: bool) -> dict[str, object]:
    return {"cost_nanousd": (2_000_000 + (n % 7) * 100_000) * (3 if hit else 1), "project_id": "search"}


def _ttft(n: int, hit: bool) -> dict[str, object]:
    return {"ttft_ms": NORMAL_TTFT[(n * 7) % len(NORMAL_TTFT)] * (2 if hit else 1)}


def _errors(n: int, hit: bool) -> dict[str, object]:
    return {"status": 500 if n % (20 if hit else 200) == 0 else 200}


CASES = {
    "spend-x3": Case("spend_usd", 2, _spend),
    "ttft-x2": Case("ttft_p95", 2, _ttft),
    # 600 requests a minute: a burst's first minute has 30 errors against 3 (at 120 a minute it has 6 against 0.6,
    # which no test allowing ≤ 1 false alert a week tells from noise within 60 s: docs/observability.md)
    "error-burst": Case("error_rate", 10, _errors),
}


class Webhook(LoopbackServer):
    thread_name = "fake-webhook"

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        return web.Response(status=200)


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with Webhook().start() as server:
        yield server


def replica(store: str, hook: Webhook, case: Case) -> RunningGateway:
    scope = "scope: project\n    match: search" if case.signal == "spend_usd" else "scope: global"
    return gateway_from_yaml(f"""
store: {store}
server: {{preload_tokenizers: false}}
providers:
  m: {{type: mock}}
models:
  small: [{{provider: m, model: gpt-4o-mini}}]
alerts:
  - name: incident
    signal: {case.signal}
    {scope}
    detector: {{type: seasonal, sensitivity: 3.0}}
    window_s: 300
    notify: [{{webhook: "{hook.root_url}/hook"}}]
""")


def usage(n: int, at: float, case: Case, tag: str) -> UsageEvent:
    """A row as the accounting stage writes it (its ts is when the call ended)."""
    event = UsageEvent(
        request_id=f"{tag}-{n}",
        ts=datetime.fromtimestamp(at, UTC),
        principal_kind="key",
        principal_id="k",
        surface="openai",
        operation="chat",
        model="small",
        status=200,
        latency_ms=900,
    )
    for name, value in case.row(n, START <= at < START + 600).items():
        setattr(event, name, value)
    return event


def history(case: Case) -> list[UsageEvent]:
    """2 rows a second around the same time of each of the 4 previous weeks: every baseline window of the
    evaluations below (the 5-minute and 1-minute windows, 2 before and after each)."""
    events = []
    for week in range(1, 5):
        first = START - week * WEEK - 1000
        events += [usage(n, first + n / 2, case, f"w{week}") for n in range(2 * 1800)]
    return events


@pytest.mark.parametrize("name", list(CASES))
def test_an_incident_is_notified_once_within_60_s_of_its_start(store_url: str, hook: Webhook, name: str) -> None:
    case = CASES[name]
    one, two = replica(store_url, hook, case), replica(store_url, hook, case)
    with one, two:
        runners = [one.worker.alerts, two.worker.alerts]
        assert runners[0] is not None and runners[1] is not None
        for gw, runner in zip((one, two), runners, strict=True):
            gw.run(runner.close())  # their loops run on the real clock; these evaluate on the simulated one
        one.run(insert_events(one.worker.engine, history(case)))
        calls = simulate(one, two, hook, case)
    assert len(hook.requests) == 1, f"{len(hook.requests)} webhook calls from two replicas"
    ((at, body),) = calls
    assert START < at <= START + 60, f"notified {at - START:.1f} s after the incident started"
    assert body["alert"] == "incident" and body["fired_at"] == datetime.fromtimestamp(at, UTC).isoformat()


def simulate(
    one: RunningGateway, two: RunningGateway, hook: Webhook, case: Case
) -> list[tuple[float, dict[str, object]]]:
    """Run the live period event by event in simulated time: rows end at ``case.rate`` a second and are queued in
    the first replica's ledger writer, which flushes every ``FLUSH_S``; each replica's runner evaluates at each tick
    of its own clock (the second's lags). Returns (instant, body) of every webhook call."""
    first, second = one.worker.alerts, two.worker.alerts
    assert first is not None and second is not None
    now = START - BEFORE_S
    first.clock = lambda: now
    second.clock = lambda: now - LAG_S
    end = START + AFTER_S
    events: list[tuple[float, str]] = [(math.floor(now) + FLUSH_PHASE * FLUSH_S + k * FLUSH_S, "flush")
                                       for k in range(int((end - now) / FLUSH_S))]  # fmt: skip
    events += [(next_tick(START - 60), "first"), (next_tick(START - 60 - LAG_S) + LAG_S, "second")]
    heapq.heapify(events)
    ledger, written, calls = one.worker.ledger, 0, []
    while events:
        at, what = heapq.heappop(events)
        while START - BEFORE_S + written / case.rate < at:  # the calls that ended before this instant
            ledger.put(usage(written, START - BEFORE_S + written / case.rate, case, "live"))
            written += 1
        now = at
        if what == "flush":
            one.run(ledger.flush())
            continue
        gw, runner = (one, first) if what == "first" else (two, second)
        due = next_tick(runner.clock() - 1e-6)  # the tick its loop slept until: its clock reads it now
        before = len(hook.requests)
        gw.run(runner.evaluate(due))
        calls += [(at, r.json) for r in hook.requests[before:]]
        if at + TICK_S < end:
            heapq.heappush(events, (at + TICK_S, what))
    return calls
