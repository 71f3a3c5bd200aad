"""A managed prompt binds the caller's project metadata and cost center from the store (issue 17, "In requests": "from
project metadata"); the request cannot set them."""

from __future__ import annotations

import httpx

from tests.api.admin.support import admin, create_project, unique
from tests.fakes.openai import FakeOpenAI
from tests.support import RunningGateway


def test_project_metadata_is_bound_and_cannot_be_set_by_the_request(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    with admin(gateway) as master:
        project = create_project(master, cost_center="CC-42", metadata={"brand": "Acme", "locale": "de"})["id"]
        key = master.post("/admin/v1/keys", json={"project": project}).json()["key"]
        name = unique("branded")
        master.params = master.params.set("project", project)
        assert master.post("/admin/v1/prompts", json={"name": name, "project": project}).status_code == 201
        template = (
            "You speak for {{ project.metadata.brand }} ({{ project.metadata.locale }}, {{ project.cost_center }})."
        )
        spec = {"messages": [{"role": "system", "content": template}], "model": "gpt"}
        vid = master.post(f"/admin/v1/prompts/{name}/versions", json=spec).json()["id"]
        moved = master.post(
            f"/admin/v1/prompts/{name}/promotions", json={"label": "dev", "version": vid, "reason": "m"}
        )
        assert moved.json()["status"] == "applied", moved.text
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
        body = {"messages": [{"role": "user", "content": "marker-metadata"}],
                "wardgate_prompt": {"name": name, "label": "dev"}}  # fmt: skip
        assert client.post("/chat/completions", json=body).status_code == 200
        sent = fake.wait_for_request(lambda r: isinstance(r.json, dict) and "marker-metadata" in str(r.json))
        assert sent.json["messages"][0] == {"role": "system", "content": "You speak for Acme (de, CC-42)."}
        spoofed = {**body, "wardgate_prompt": {"name": name, "label": "dev", "variables": {"project": {"x": 1}}}}
        refused = client.post("/chat/completions", json=spoofed)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_prompt_variable"
