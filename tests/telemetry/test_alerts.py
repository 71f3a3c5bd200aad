"""Alerts on the shared ledger: a seasonal spike and a threshold breach fire once across two replicas, notify the
webhook (Wardgate's or Alertmanager's shape) once per episode, stay quiet on a normal window, and are listed by
GET /admin/v1/alerts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from tests.fakes.server import LoopbackServer, RecordedRequest
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.alerts import detectors
from wardgate.alerts.runner import TICK_S
from wardgate.config.telemetry import SeasonalDetector
from wardgate.store.tables import audit_log
from wardgate.store.usage import UsageEvent, insert_events

WINDOW_S = 300
# 200 s into a 300 s window; a fixed instant: the runners' own loops (at the real time) see none of the seeded rows
NOW = 1_796_000_000.0


class Webhook(LoopbackServer):
    thread_name = "fake-webhook"

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        return web.Response(status=200)


@pytest.fixture
def store(store_url: str) -> str:
    """The store the two replicas share: a SQLite file, and a real PostgreSQL database (conftest.py's store_url)."""
    return store_url


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with Webhook().start() as server:
        yield server


def replicas(store: str, hook: Webhook) -> tuple[RunningGateway, RunningGateway]:
    config = f"""
store: {store}
server: {{preload_tokenizers: false}}
providers:
  m: {{type: mock}}
models:
  small: [{{provider: m, model: gpt-4o-mini}}]
alerts:
  - name: spend-spike
    signal: spend_usd
    scope: project
    match: search
    detector: {{type: seasonal, sensitivity: 3.0}}
    window_s: {WINDOW_S}
    notify: [{{webhook: "{hook.root_url}/spend"}}]
    action: warn
  - name: errors
    signal: error_rate
    detector: {{type: threshold, above: 0.2}}
    window_s: {WINDOW_S}
    notify: [{{webhook: "{hook.root_url}/am", format: alertmanager}}]
"""
    first = gateway_from_yaml(config)
    return first, gateway_from_yaml(config)


def event(i: int, at: datetime, project: str, cost: int, status: int = 200) -> UsageEvent:
    return UsageEvent(
        request_id=f"seed-{i}",
        ts=at,
        principal_kind="key",
        principal_id="k",
        surface="openai",
        operation="chat",
        model="small",
        status=status,
        project_id=project,
        cost_nanousd=cost,
    )


def seed(gw: RunningGateway, spike: float, errors: int) -> None:
    """$1 (± a little) per 5-minute window at the same hour on every earlier day and week; now `spike` × that."""
    end = datetime.fromtimestamp(NOW, UTC)
    events = []
    for n, offset in enumerate(detectors.baseline_offsets(WINDOW_S)):
        at = end - timedelta(seconds=offset) - timedelta(seconds=100)
        events.append(event(n, at, "search", 1_000_000_000 + n * 10_000_000))
    now = end - timedelta(seconds=60)
    events.append(event(100, now, "search", int(spike * 1_000_000_000)))
    events += [event(200 + i, now, "other", 0, status=500 if i < errors else 200) for i in range(10)]
    gw.run(insert_events(gw.worker.engine, events))


def test_a_spike_fires_once_across_two_replicas_and_once_per_episode(store: str, hook: Webhook) -> None:
    one, two = replicas(store, hook)
    with one, two:
        seed(one, spike=3.0, errors=5)  # 3× the usual spend; 5 errors in 11 calls
        runners = [one.worker.alerts, two.worker.alerts]
        assert runners[0] is not None and runners[1] is not None
        fired = one.run(runners[0].evaluate(NOW)) + two.run(runners[1].evaluate(NOW))
        one.worker.alerts.clock = lambda: NOW  # type: ignore[union-attr]  # what the admin API calls now
        again = two.run(two.worker.alerts.evaluate(NOW + 30))  # type: ignore[union-attr]  # the same window
        listed = httpx.get(one.root + "/admin/v1/alerts", headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
        later = one.run(one.worker.alerts.evaluate(NOW + 100))  # type: ignore[union-attr]
    assert sorted((f.alert, f.series) for f in fired) == [("errors", ""), ("spend-spike", "search")]
    assert again == []  # the other replica, the same window: already recorded, nothing sent
    spend = [r for r in hook.requests if r.path == "/spend"]
    assert len(spend) == 1  # two replicas, one notification
    body = spend[0].json
    assert body["alert"] == "spend-spike" and body["series"] == "search" and body["value"] == 3.0
    offsets = len(detectors.baseline_offsets(WINDOW_S))  # $1.00, $1.01 … one per baseline window: the median
    assert body["baseline"] == pytest.approx(1 + (offsets - 1) / 2 * 0.01) and body["score"] > 3
    (am,) = [r for r in hook.requests if r.path == "/am"]
    assert am.json[0]["labels"]["alertname"] == "errors" and "startsAt" in am.json[0]
    # the next window still fires (the spike's rows are still in it): recorded, not notified again
    assert [f.notified for f in later] == [False, False] and len(hook.requests) == 2
    states = {a["name"]: a for a in listed["alerts"]}
    assert states["spend-spike"]["firing"] == ["search"] and states["errors"]["firing"] == [""]
    assert {f["alert"] for f in listed["firings"]} == {"spend-spike", "errors"}


def test_a_normal_window_is_quiet(store: str, hook: Webhook) -> None:
    one, two = replicas(store, hook)
    with one, two:
        seed(one, spike=1.1, errors=1)
        assert one.run(one.worker.alerts.evaluate(NOW)) == []  # type: ignore[union-attr]
    assert hook.requests == []


def test_the_seasonal_score_is_robust_and_needs_history() -> None:
    detector = SeasonalDetector(type="seasonal", sensitivity=3.0)
    history = [10.0, 11.0, 9.0, 10.0, 50.0, 10.0]  # one past incident does not move the baseline
    assert detectors.seasonal(detector, 30.0, history, floor=1.0).firing
    assert not detectors.seasonal(detector, 12.0, history, floor=1.0).firing
    assert not detectors.seasonal(detector, 1000.0, [10.0, 10.0], floor=1.0).firing  # too little history
    flat = detectors.seasonal(detector, 10.5, [10.0] * 6, floor=0.01)
    assert not flat.firing  # a flat history: the spread is floored at 10 % of the median


def test_throttle_tightens_the_scopes_rate_limit_everywhere_and_lifts_it_audited(store: str, hook: Webhook) -> None:
    config = f"""
store: {store}
server: {{preload_tokenizers: false}}
providers:
  m: {{type: mock}}
models:
  small: [{{provider: m, model: gpt-4o-mini}}]
alerts:
  - name: burst
    signal: requests
    scope: project
    detector: {{type: threshold, above: 3}}
    window_s: {WINDOW_S}
    notify: [{{webhook: "{hook.root_url}/burst"}}]
    action: {{throttle: {{rpm: 1, for_s: 600}}}}
"""
    with gateway_from_yaml(config) as gw:
        runner = gw.worker.alerts
        assert runner is not None

        async def project_key() -> tuple[str, str]:
            project = await gw.worker.tenancy.create_project("search")
            secret, _ = await gw.worker.keys.create(project.id)
            return project.id, secret

        project_id, key = gw.run(project_key())
        end = datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=30)
        gw.run(insert_events(gw.worker.engine, [event(i, end, project_id, 0) for i in range(5)]))
        (fired,) = gw.run(runner.evaluate(NOW))
        assert fired.series == project_id and fired.notified
        gw.run(gw.worker.rate_limit_refresher.load())  # what every worker and replica does every limits.refresh_s
        chat = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {key}"}
        statuses = [httpx.post(gw.url + "/chat/completions", json=chat, headers=headers).status_code for _ in range(2)]
        assert statuses == [200, 429]
        master = {"authorization": f"Bearer {MASTER_KEY}"}
        assert httpx.post(gw.url + "/chat/completions", json=chat, headers=master).status_code == 200  # other scope
        gw.run(runner.evaluate(time.time() + 601))  # past for_s: lifted
        gw.run(gw.worker.rate_limit_refresher.load())
        assert httpx.post(gw.url + "/chat/completions", json=chat, headers=headers).status_code == 200
        gw.run(gw.worker.audit.flush())
        actions = gw.run(_audit_actions(gw))
    assert [a for a in actions if a.startswith("alert.")] == ["alert.throttle", "alert.throttle.lift"]
    assert hook.requests[0].json["action"] == "throttle"


async def _audit_actions(gw: RunningGateway) -> list[str]:
    async with gw.worker.engine.connect() as conn:
        rows = await conn.execute(select(audit_log.c.action).order_by(audit_log.c.seq))
        return [row[0] for row in rows]


def test_an_error_burst_is_a_count_against_the_weeks_baseline_rate() -> None:
    detector = SeasonalDetector(type="seasonal", sensitivity=3.0)
    week = detectors.WEEK_S
    # 0.5 % over 4 weeks of 5 windows; one past week had an incident, which moves only that week's rate
    history = [(w * week + k * 60, 5 if w != 2 else 60, 1000) for w in range(1, 5) for k in range(-2, 3)]
    burst = detectors.error_burst(detector, 6, 105, history, 0.01)  # a minute of 5 % at a quiet hour
    assert burst.firing and burst.baseline == (75 + 1) / (15_000 + 1)  # the 3 weeks without the incident
    assert not detectors.error_burst(detector, 2, 105, history, 0.01).firing  # two errors: noise
    assert not detectors.error_burst(detector, 7000, 1_000_000, history, 0.01).firing  # significant, not a rise
    assert detectors.error_burst(detector, 3000, 100_000, history, 0.01).firing  # the normal tail, large counts
    assert not detectors.error_burst(detector, 50, 100, history[:4], 0.01).firing  # too little history
    assert detectors.poisson_at_least(0, 1.0) == 1.0
    assert abs(detectors.poisson_at_least(5, 0.525) - 2.152e-4) < 1e-7


def test_a_round_reads_only_the_newest_baseline_window_of_each_week(store: str, hook: Webhook) -> None:
    """On the tick grid the baseline window a round reads k windows back is the one a round ``window_s`` later reads
    k - 1 back: once a window length has passed, a round reads 4 baseline windows a window length (one a week)."""
    gw, other = replicas(store, hook)
    with gw, other:
        runner = gw.worker.alerts
        assert runner is not None
        gw.run(runner.close())
        spend = [a for a in runner.alerts if a.name == "spend-spike"]
        runner.alerts = tuple(spend)
        reads = []
        for k in range(WINDOW_S // int(TICK_S) + 1):
            before = runner.past.queries
            gw.run(runner.evaluate(NOW - NOW % TICK_S + k * TICK_S))
            reads.append(runner.past.queries - before)
    per_window = len(detectors.baseline_offsets(WINDOW_S))
    assert reads[0] == 2 * per_window  # the alert's window and its last minute: 20 baseline windows each
    assert reads[-1] == 2 * 4
