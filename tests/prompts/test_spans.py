"""Every span of a call that rendered a managed prompt carries prompt_name, prompt_version and prompt_variant, as its
ledger row does (issue 17, "In requests")."""

from __future__ import annotations

import openai

from tests.api.admin.support import admin, unique
from tests.fakes.openai import FakeOpenAI
from tests.fakes.otlp import FakeOTLP
from tests.support import MASTER_KEY, gateway_from_yaml
from tests.telemetry.test_traces import SERVER, flushed


def test_the_request_span_names_the_prompt_version_and_arm(fake: FakeOpenAI) -> None:
    with (
        FakeOTLP().start() as collector,
        gateway_from_yaml(f"""
prompts: {{}}
telemetry: {{otlp_endpoint: "{collector.root_url}", service_name: wardgate-test}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
""") as gw,
    ):
        name = unique("spans")
        with admin(gw) as master:  # a system-wide prompt: the master key has no project
            assert master.post("/admin/v1/prompts", json={"name": name}).status_code == 201
            spec = {"messages": [{"role": "system", "content": "Be kind."}], "model": "gpt"}
            vid = master.post(f"/admin/v1/prompts/{name}/versions", json=spec).json()["id"]
            moved = master.post(
                f"/admin/v1/prompts/{name}/promotions", json={"label": "dev", "version": vid, "reason": "spans"}
            )
            assert moved.json()["status"] == "applied", moved.text
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            client.chat.completions.create(model=f"prompt:{name}@dev", messages=[{"role": "user", "content": "hi"}])
            client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "no prompt"}])
        flushed(gw)
    roots = [s for s in collector.spans if s.kind == SERVER]
    assert len(roots) == 2
    prompted = [s for s in roots if "wardgate.prompt_name" in s.attributes]
    assert len(prompted) == 1
    attributes = prompted[0].attributes
    assert (attributes["wardgate.prompt_version"], attributes["wardgate.prompt_variant"]) == (vid, "control")
    assert attributes["wardgate.prompt_name"] == name
