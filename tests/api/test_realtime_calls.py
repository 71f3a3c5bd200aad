"""``POST /v1/realtime/calls`` (a WebRTC SDP offer) and ``/v1/realtime/calls/{call_id}/accept|hangup|refer|reject`` on
the governed path: identity, model access, budgets, the deployment's model sent upstream, a zero-token ledger row,
the call kept as its creator's; driven by the official SDK against the OpenAI fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.openai_realtime_calls import ANSWER
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.usage import by_request_id

KEY = "sk-realtime-calls-upstream"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
  chat-only: {{type: perplexity, base_url: "{fake.url}", api_key: {KEY}}}
models:
  gpt-realtime: [{{provider: up, model: gpt-realtime-2025-08-28}}]
  voice: [{{provider: up, model: gpt-realtime-mini}}]
  broken: [{{provider: up, model: error-500}}]
  sonar: [{{provider: chat-only, model: sonar}}]
  tts: [{{provider: up, model: tts-1}}]
budgets:
  - {{name: callers, scope: project, match: callers, window: day, limit_usd: 0.0004, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    fake.reset()
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def project_key(gateway: RunningGateway, name: str) -> str:
    async def key() -> str:
        project = await gateway.worker.tenancy.create_project(name)
        return (await gateway.worker.keys.create(project.id))[0]

    return gateway.run(key())


def create(client: openai.OpenAI, model: str = "voice") -> tuple[str, Any]:
    raw = client.realtime.calls.with_raw_response.create(sdp=OFFER, session={"type": "realtime", "model": model})
    location = raw.headers["location"]
    return location.rsplit("/", 1)[1], raw


def test_an_offer_is_relayed_with_the_deployments_model_and_its_answer_and_location_come_back(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    call_id, raw = create(client)
    assert raw.http_response.status_code == 201
    assert raw.headers["content-type"].startswith("application/sdp")
    assert raw.http_response.content.decode() == ANSWER
    assert raw.headers["location"] == f"/v1/realtime/calls/{call_id}" and call_id.startswith("rtc_fake")
    sent = fake.calls[call_id]
    assert sent["sdp"] == OFFER and sent["session"] == {"type": "realtime", "model": "gpt-realtime-mini"}
    assert fake.last.headers["authorization"] == f"Bearer {KEY}"
    assert raw.headers["x-wardgate-deployment"] == "up/gpt-realtime-mini"
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["operation"], row["model"], row["status"], row["billable"]) == ("realtime_call", "voice", 200, True)
    assert (row["input_tokens"], row["output_tokens"], row["cost_nanousd"]) == (0, 0, 0)
    details = row["details"]["realtime_call"]
    assert details == {"action": "create", "call_id": call_id, "session_model": "gpt-realtime-mini"}


def test_a_bare_sdp_offer_is_routed_on_openais_default(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    response = httpx.post(
        str(client.base_url) + "realtime/calls",
        content=OFFER,
        headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/sdp"},
    )
    assert response.status_code == 201 and response.text == ANSWER
    assert response.headers["x-wardgate-deployment"] == "up/gpt-realtime-2025-08-28"
    assert fake.last.headers["content-type"].startswith("application/sdp") and fake.last.body.decode() == OFFER


def test_the_control_actions_reach_the_provider_that_made_the_call(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    call_id, _ = create(client)
    assert client.realtime.calls.accept(call_id, type="realtime", model="gpt-realtime", instructions="hi") is None
    client.realtime.calls.refer(call_id, target_uri="tel:+14155550123")
    client.realtime.calls.reject(call_id, status_code=486)
    raw = client.realtime.calls.with_raw_response.hangup(call_id)
    actions = fake.calls[call_id]["actions"]
    assert [a for a, _ in actions] == ["accept", "refer", "reject", "hangup"]
    assert actions[0][1] == {"type": "realtime", "model": "gpt-realtime-2025-08-28", "instructions": "hi"}
    assert actions[1][1] == {"target_uri": "tel:+14155550123"} and actions[2][1] == {"status_code": 486}
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["operation"], row["model"], row["status"]) == ("realtime_control", "voice", 200)
    assert row["details"]["realtime_call"]["action"] == "hangup"
    assert row["details"]["realtime_call"]["call_id"] == call_id


def test_another_projects_key_cannot_touch_a_call(gateway: RunningGateway, client: openai.OpenAI) -> None:
    call_id, _ = create(client)
    key = project_key(gateway, "eavesdroppers")
    with (
        openai.OpenAI(base_url=gateway.url, api_key=key, max_retries=0) as other,
        pytest.raises(openai.NotFoundError) as caught,
    ):
        other.realtime.calls.hangup(call_id)
    assert caught.value.response.json()["error"]["param"] == "call_id"


def test_a_call_the_gateway_never_saw_is_passed_on_and_the_providers_404_relayed(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.realtime.calls.hangup("rtc_sip_from_a_webhook")
    assert "rtc_sip_from_a_webhook" in caught.value.response.json()["error"]["message"]


def test_a_provider_failure_is_an_openai_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        create(client, model="broken")
    assert caught.value.status_code >= 500 and set(caught.value.response.json()["error"]) >= {"message", "type"}


def _post(gateway: RunningGateway, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {MASTER_KEY}", **kwargs.pop("headers", {})}
    return httpx.post(gateway.url + path, headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "param"),
    [
        ("/realtime/calls", {"json": {"sdp": OFFER}}, 400, "sdp"),
        ("/realtime/calls", {"files": {"session": (None, '{"model": "voice"}')}}, 400, "sdp"),
        ("/realtime/calls", {"files": {"sdp": (None, OFFER), "session": (None, "[1]")}}, 400, "session"),
        ("/realtime/calls", {"files": {"sdp": (None, OFFER), "session": (None, '{"model": 7}')}}, 400, "session.model"),
        ("/realtime/calls", {"files": {"sdp": (None, OFFER), "session": (None, '{"model": "nope"}')}}, 404, "model"),
        ("/realtime/calls", {"files": {"sdp": (None, OFFER), "session": (None, '{"model": "sonar"}')}}, 400, "model"),
        ("/realtime/calls", {"content": b"", "headers": {"content-type": "application/sdp"}}, 400, "sdp"),
        ("/realtime/calls/rtc_1/accept", {"json": {"model": "voice"}}, 400, "type"),
        ("/realtime/calls/rtc_1/accept", {"json": [1]}, 400, None),
        ("/realtime/calls/rtc_1/refer", {"json": {}}, 400, "target_uri"),
        ("/realtime/calls/rtc_1/reject", {"json": {"status_code": "busy"}}, 400, "status_code"),
        ("/realtime/calls/rtc_1/hangup", {"json": {"now": True}}, 400, "now"),
        ("/realtime/calls/rtc_1/transfer", {"json": {}}, 404, None),
        ("/realtime/calls/rtc_1/accept/x", {"json": {}}, 404, None),
    ],
)
def test_bad_requests_get_openai_errors_and_reach_no_provider(
    gateway: RunningGateway, fake: FakeOpenAI, path: str, kwargs: dict[str, Any], status: int, param: str | None
) -> None:
    fake.reset()
    response = _post(gateway, path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["param"] == param
    assert not fake.requests


def test_an_unknown_key_calls_nothing(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    fake.reset()
    response = httpx.post(
        gateway.url + "/realtime/calls",
        content=OFFER,
        headers={"authorization": "Bearer sk-not-a-key", "content-type": "application/sdp"},
    )
    assert response.status_code == 401 and not fake.requests


def test_a_spent_budget_refuses_a_call(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=project_key(gateway, "callers"), max_retries=0) as caller:
        call_id, _ = create(caller)
        for _ in range(3):  # $0.00015 each at $15 per 1M characters: $0.00045 spent of $0.0004
            caller.audio.speech.create(model="tts", voice="alloy", input="x" * 10)
        fake.reset()
        with pytest.raises(openai.RateLimitError) as caught:
            create(caller)
        with pytest.raises(openai.RateLimitError):
            caller.realtime.calls.hangup(call_id)
    assert caught.value.response.json()["error"]["code"] == "budget_exceeded"
    assert not fake.requests
