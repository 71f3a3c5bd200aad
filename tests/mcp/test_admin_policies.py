"""Tool policies made in the admin API (`/admin/v1/mcp/tool-policies`): created, replaced and deleted, audited, and
applied to tools/list and tools/call at once (the other workers and replicas re-read them when announced)."""

from __future__ import annotations

import asyncio

import httpx

from tests.mcp.test_governance import gateway, listed, make_key, rows, upstream  # noqa: F401 (fixture)
from tests.mcp.upstream import LoopbackMCP
from tests.support import MASTER_KEY
from wardgate.store.tables import audit_log

ALL = {"github.echo", "github.add", "github.delete_repo", "github.read_file", "github.pid"}


def test_admin_tool_policies_drive_list_and_call(upstream: LoopbackMCP) -> None:  # noqa: F811
    config = """
tool_policies:
  - {name: from-file, scope: global, deny: ["github.read_file"]}
"""
    with gateway(upstream, config) as gw:
        acme = make_key(gw, "acme")
        assert asyncio.run(listed(gw, acme)) == ALL - {"github.read_file"}
        auth = {"Authorization": f"Bearer {MASTER_KEY}"}
        with httpx.Client(base_url=gw.root + "/admin/v1/mcp", headers=auth, timeout=10) as admin:
            policy = {"name": "acme-safe", "scope": "project", "match": "acme", "deny": ["github.delete_*"]}
            created = admin.post("/tool-policies", json=policy)
            assert created.status_code == 201, created.text
            assert asyncio.run(listed(gw, acme)) == ALL - {"github.read_file", "github.delete_repo"}
            assert admin.post("/tool-policies", json=policy).status_code == 409
            assert admin.post("/tool-policies", json={**policy, "name": "from-file"}).status_code == 409
            assert admin.post("/tool-policies", json={**policy, "scope": "galaxy"}).status_code == 400
            assert admin.post("/tool-policies", json={**policy, "extra": 1}).status_code == 400
            listing = {p["name"]: p["source"] for p in admin.get("/tool-policies").json()["data"]}
            assert listing == {"from-file": "config", "acme-safe": "api"}

            replaced = admin.put("/tool-policies/acme-safe", json={**policy, "allow": ["github.echo"]})
            assert replaced.status_code == 200, replaced.text
            assert asyncio.run(listed(gw, acme)) == {"github.echo"}
            assert admin.put("/tool-policies/other", json=policy).status_code == 400  # the name must match
            assert admin.put("/tool-policies/nope", json={**policy, "name": "nope"}).status_code == 404

            assert admin.delete("/tool-policies/acme-safe").status_code == 200
            assert asyncio.run(listed(gw, acme)) == ALL - {"github.read_file"}
            assert admin.delete("/tool-policies/from-file").status_code == 404  # the config file's: not here
        actions = [r["action"] for r in gw.run(rows(gw, audit_log)) if r["action"].startswith("mcp.tool_policy")]
        assert actions == ["mcp.tool_policy.create", "mcp.tool_policy.replace", "mcp.tool_policy.delete"]
