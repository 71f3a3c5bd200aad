"""A request names a prompt instead of sending it: the gateway renders the label's version in front of the client's
own messages, with its model and params, and records the prompt on the ledger row (issue 17, "In requests" and
"Bad input")."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from sqlalchemy import select

from tests.api.admin.support import admin, flush
from tests.fakes.openai import FakeOpenAI
from tests.prompts.support import SUPPORT_V1, Team
from tests.support import RunningGateway
from wardgate.store.tables import usage_events


@pytest.fixture(scope="module")
def released(gateway: RunningGateway, team: Team) -> tuple[str, str]:
    """A prompt whose `dev` label (unprotected) points to SUPPORT_V1."""
    with team.as_user(0) as client:
        name, (v1,) = team.new_prompt(client, SUPPORT_V1)
        moved = client.post(
            f"/admin/v1/prompts/{name}/promotions", json={"label": "dev", "version": v1, "reason": "try"}
        )
        assert moved.json()["status"] == "applied"
    return name, v1


VARIABLES = {"customer": {"name": "Ada"}, "tier": "pro"}


def _upstream(fake: FakeOpenAI, marker: str) -> dict[str, Any]:
    recorded = fake.wait_for_request(lambda r: isinstance(r.json, dict) and marker in str(r.json.get("messages")))
    return dict(recorded.json)


def test_the_body_field_renders_the_label_before_the_clients_messages(
    gateway: RunningGateway, team: Team, fake: FakeOpenAI, released: tuple[str, str]
) -> None:
    name, v1 = released
    body = {
        "model": "other",  # the version names its model; the request may not override it
        "messages": [{"role": "user", "content": "marker-body-field"}],
        "wardgate_prompt": {"name": name, "label": "dev", "variables": VARIABLES},
        "max_tokens": 20,  # a param the request may override
    }
    response = team.chat(body)
    assert response.status_code == 200, response.text
    sent = _upstream(fake, "marker-body-field")
    project_name = _project_name(gateway, team)
    assert sent["messages"] == [
        {"role": "system", "content": f"You help Ada of {project_name}. Tier: pro."},
        {"role": "user", "content": "Example question"},
        {"role": "assistant", "content": "Example answer"},
        {"role": "user", "content": "marker-body-field"},
    ]
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.2 and sent["max_tokens"] == 20
    assert "wardgate_prompt" not in sent
    flush(gateway)
    row = _ledger_row(gateway, response.headers["x-wardgate-request-id"])
    assert (row.prompt_name, row.prompt_version, row.prompt_variant, row.model) == (name, v1, "control", "gpt")


def test_the_openai_sdk_names_the_prompt_as_model_or_extra_body(
    gateway: RunningGateway, team: Team, fake: FakeOpenAI, released: tuple[str, str]
) -> None:
    name, _ = released
    client = openai.OpenAI(api_key=team.key, base_url=gateway.url, max_retries=0)
    by_model = client.chat.completions.create(
        model=f"prompt:{name}@dev",
        messages=[{"role": "user", "content": "marker-sdk-model"}],
        extra_body={"wardgate_prompt": {"variables": VARIABLES}},
    )
    assert by_model.choices[0].message.content
    assert _upstream(fake, "marker-sdk-model")["messages"][0]["content"].startswith("You help Ada")
    by_field = client.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "marker-sdk-field"}],
        extra_body={"wardgate_prompt": {"name": name, "label": "dev", "variables": VARIABLES}},
    )
    assert by_field.choices[0].message.content
    assert len(_upstream(fake, "marker-sdk-field")["messages"]) == 4


@pytest.mark.parametrize(
    ("reference", "status", "code", "param"),
    [
        ({"label": "dev", "variables": {"tier": "pro"}}, 400, "invalid_prompt_variable", "customer"),
        ({"label": "dev", "variables": {**VARIABLES, "tier": "gold"}}, 400, "invalid_prompt_variable", "tier"),
        ({"label": "dev", "variables": {**VARIABLES, "principal": {}}}, 400, "invalid_prompt_variable", "principal"),
        ({"label": "dev", "variables": "x"}, 400, "invalid_prompt_reference", None),
        ({"label": "nope", "variables": VARIABLES}, 404, "prompt_not_found", None),
        ({"version": 99, "variables": VARIABLES}, 404, "prompt_not_found", None),
        ({"label": "dev", "extra": 1}, 400, "invalid_prompt_reference", None),
    ],
)
def test_bad_references_and_variables_are_the_clients_errors(
    team: Team, released: tuple[str, str], reference: dict[str, Any], status: int, code: str, param: str | None
) -> None:
    name, _ = released
    response = team.chat({"model": "gpt", "messages": [], "wardgate_prompt": {"name": name, **reference}})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == f"wardgate_prompt.variables.{param}" and f"'{param}'" in error["message"]


def test_an_unknown_prompt_is_404_and_a_prompt_request_without_prompts_is_plain(team: Team) -> None:
    response = team.chat({"model": "prompt:no-such-prompt@production", "messages": []})
    assert response.status_code == 404 and response.json()["error"]["code"] == "prompt_not_found"
    hostile = team.chat({"model": "prompt:../../etc@x y", "messages": []})
    assert hostile.status_code == 400 and hostile.json()["error"]["param"] == "model"
    plain = team.chat({"model": "gpt", "messages": [{"role": "user", "content": "no prompt"}]})
    assert plain.status_code == 200


def test_another_projects_prompt_is_not_found(gateway: RunningGateway, team: Team, released: tuple[str, str]) -> None:
    name, _ = released
    stranger = Team(gateway)
    try:
        response = stranger.chat({"model": "gpt", "messages": [], "wardgate_prompt": {"name": name, "label": "dev"}})
    finally:
        stranger.close()
    assert response.status_code == 404


def _project_name(gateway: RunningGateway, team: Team) -> str:
    with admin(gateway) as master:
        return str(master.get(f"/admin/v1/projects/{team.project}").json()["name"])


def _ledger_row(gateway: RunningGateway, request_id: str) -> Any:
    async def read() -> Any:
        async with gateway.worker.engine.connect() as conn:
            query = select(usage_events).where(usage_events.c.request_id == request_id)
            return (await conn.execute(query)).one()

    return gateway.run(read())


def test_a_streamed_prompted_call_and_usage_grouped_by_prompt(
    gateway: RunningGateway, team: Team, fake: FakeOpenAI, released: tuple[str, str]
) -> None:
    name, v1 = released
    body = {
        "stream": True,
        "messages": [{"role": "user", "content": "marker-stream"}],
        "wardgate_prompt": {"name": name, "label": "dev", "variables": VARIABLES},
    }
    with team.http.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 2
    assert _upstream(fake, "marker-stream")["stream"] is True
    flush(gateway)
    with admin(gateway) as master:
        usage = master.get("/admin/v1/usage", params={"group_by": "prompt_name,prompt_variant"}).json()
    rows = [r for r in usage["rows"] if r["prompt_name"] == name]
    assert [(r["prompt_variant"], r["requests"] >= 2) for r in rows] == [("control", True)]


def test_without_a_prompts_section_a_prompt_reference_is_refused() -> None:
    from tests.support import gateway_from_yaml

    with gateway_from_yaml("providers:\n  demo: {type: mock}\nmodels:\n  chat: [{provider: demo, model: m}]\n") as gw:
        assert gw.worker.prompts is None and not any(s.name == "prompts" for s in gw.worker.runtime.pipeline.stages)
        with admin(gw) as master:
            body = {"model": "chat", "messages": [], "wardgate_prompt": {"name": "x"}}
            response = master.post(gw.url + "/chat/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_prompt_reference"


def test_a_version_asked_for_before_it_exists_is_found_after_the_next_refresh(
    gateway: RunningGateway, team: Team, fake: FakeOpenAI
) -> None:
    with team.as_user(0) as client:
        name, _ = team.new_prompt(client, SUPPORT_V1)
        body = {"model": "gpt", "messages": [{"role": "user", "content": "marker-by-number"}],
                "wardgate_prompt": {"name": name, "version": 2, "variables": VARIABLES}}  # fmt: skip
        assert team.chat(body).status_code == 404
        spec = {**SUPPORT_V1, "messages": [{"role": "system", "content": "second {{ tier }}"}]}
        assert client.post(f"/admin/v1/prompts/{name}/versions", json=spec).status_code == 201
    prompts = gateway.worker.prompts
    assert prompts is not None
    gateway.run(prompts.load())  # what every worker does each prompts.refresh_s
    assert team.chat(body).status_code == 200
    assert _upstream(fake, "marker-by-number")["messages"][0] == {"role": "system", "content": "second pro"}
