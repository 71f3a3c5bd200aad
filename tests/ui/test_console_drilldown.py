"""The console in headless Chromium, for what its tables gained: each key's last use, the drill-down from a ledger row
to its request (route decision and audit entries), server-side pages on the projects and users tables, and the MCP
page's tool-policy writes; with the roles (system admin, project admin, project viewer), foreign ids, axe-core and no
console error or failed request. Screenshots go to tests/ui/screenshots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.admin.support import admin, chat, create_project, create_user, flush, grant, unique, user_key
from tests.support import MASTER_KEY, RunningGateway
from tests.ui.test_console_browser import Console
from wardgate.store.rollup_tables import ROLLUP_TABLES


@pytest.fixture
def console(tools: tuple[Any, str], gateway: RunningGateway) -> Iterator[Any]:
    opened: list[Console] = []

    def make(who: str) -> Console:
        opened.append(Console(tools, gateway, who))
        return opened[-1]

    yield make
    for c in opened:
        c.close()


def _traffic(gateway: RunningGateway) -> dict[str, Any]:
    """A project with a guard, a used and an idle key, a blocked and a served request; a foreign project's request."""
    with admin(gateway) as master:
        mine, foreign = create_project(master), create_project(master)
        word = unique("forbidden")
        guard = {"name": unique("words"), "type": "regex", "patterns": [word], "scope": "project", "match": mine["id"]}
        assert master.post("/admin/v1/guards", json=guard).status_code == 201
        used = master.post("/admin/v1/keys", json={"project": mine["id"], "name": "used-key"}).json()
        master.post("/admin/v1/keys", json={"project": mine["id"], "name": "idle-key"})
        blocked = chat(gateway, used["key"], text=f"say {word}")
        assert blocked.status_code == 400
        assert chat(gateway, used["key"]).status_code == 200
        foreign_key = master.post("/admin/v1/keys", json={"project": foreign["id"]}).json()["key"]
        foreign_call = chat(gateway, foreign_key)
        assert foreign_call.status_code == 200
        flush(gateway)
        boss, viewer = create_user(master), create_user(master)
        grant(master, boss["id"], "project", mine["id"], "admin")
        grant(master, viewer["id"], "project", mine["id"], "viewer")
        return {
            "mine": mine,
            "guard": guard["name"],
            "blocked": blocked.headers["x-request-id"],
            "foreign_request": foreign_call.headers["x-request-id"],
            "foreign": foreign,
            "admin_key": user_key(master, mine["id"], boss["id"]),
            "viewer_key": user_key(master, mine["id"], viewer["id"]),
        }


def test_last_use_and_the_drill_down_from_a_ledger_row_to_its_audit_entries(
    console: Any, gateway: RunningGateway
) -> None:
    s = _traffic(gateway)
    c = console("system-admin")
    c.sign_in(MASTER_KEY, f"keys?project={s['mine']['id']}")
    used = c.page.locator("tr", has_text="used-key").inner_text()
    assert "never" not in used and " UTC" in used  # the hour of its last request
    assert "never" in c.page.locator("tr", has_text="idle-key").inner_text()
    c.check("keys-last-use", axe=True)

    c.open(f"/ui/usage?group_by=project&project={s['mine']['id']}")
    c.page.locator("tr", has_text=s["mine"]["id"]).get_by_role("button", name="Requests").click()
    c.page.get_by_role("link", name=s["blocked"]).click()
    c.page.wait_for_url(f"**/ui/usage?request={s['blocked']}")
    c.ready()
    entries = c.page.get_by_role("region", name="Audit entries of this request").inner_text()
    assert "guard.block" in entries and s["guard"] in entries
    assert "deployment" in c.page.get_by_role("region", name="Route decision", exact=True).inner_text()
    c.check("request", axe=True)

    boss = console("project-admin")  # a project admin reads the trail of their project (guard entries name none)
    boss.sign_in(s["admin_key"], f"usage?request={s['blocked']}")
    assert s["blocked"] in boss.main_text()
    boss.check("request")
    viewer = console("project-viewer")  # a viewer sees the row, and is told the trail is not theirs
    viewer.sign_in(s["viewer_key"], f"usage?request={s['blocked']}")
    assert "needs a system role" in viewer.main_text()
    viewer.check("request", axe=True)
    viewer.watcher.allowed.append("/admin/v1/usage/")  # a foreign request id in the URL: 404, nothing shown
    viewer.open(f"/ui/usage?request={s['foreign_request']}")
    assert s["foreign"]["id"] not in viewer.main_text() and "no usage recorded" in viewer.main_text()
    viewer.check("request-foreign")


def test_projects_and_users_tables_page_on_the_server(console: Any, gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        for _ in range(51):  # more than a page of 50, whatever the other tests made
            create_project(master)
            create_user(master)
    c = console("system-admin")
    c.sign_in(MASTER_KEY, "projects")
    for page in ("projects", "users"):
        c.open(f"/ui/{page}")
        first = c.main_text()
        assert c.page.locator("tbody tr").count() == 50
        c.page.get_by_role("link", name="Next page").click()
        c.page.wait_for_url(f"**/ui/{page}?cursor=*")
        c.ready()
        c.page.get_by_role("link", name="First page").wait_for()
        second = c.main_text()
        assert second != first and c.page.locator("tbody tr").count() >= 1
        c.check(f"{page}-page-2", axe=True)
    c.watcher.allowed.append("/admin/v1/projects")  # a made-up cursor: the API's 400, shown, never a 500
    c.open("/ui/projects?cursor=made-up")
    assert "not a next_cursor" in c.main_text()


def test_mcp_tool_policies_are_written_by_a_system_admin_only(console: Any, gateway: RunningGateway) -> None:
    name = unique("no-shell")
    c = console("system-admin")
    c.sign_in(MASTER_KEY, "mcp")
    form = c.form("New tool policy")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=scope]").select_option("global")
    form.locator("input[name=deny]").fill("*shell*, *exec*")
    form.locator("button[type=submit]").click()
    row = c.page.locator("tr", has_text=name)
    row.wait_for()
    assert "*shell*" in row.inner_text()
    c.check("mcp-policy", axe=True)
    row.get_by_role("button", name="Edit").click()
    editor = c.form(f"Edit tool policy {name}")
    editor.locator("textarea[name=json]").fill(
        editor.locator("textarea[name=json]").input_value().replace('"*exec*"', '"*eval*"')
    )
    editor.locator("button[type=submit]").click()
    c.page.locator("tr", has_text=name).get_by_text("*eval*").wait_for()
    c.watcher.allowed.append("/admin/v1/mcp/tool-policies")  # a project-scoped policy with a global match: refused
    form = c.form("New tool policy")
    form.locator("input[name=name]").fill(name + "-bad")
    form.locator("select[name=scope]").select_option("global")
    form.locator("input[name=match]").fill("p")
    form.locator("button[type=submit]").click()
    form.locator("p.error[role=alert], span.error:not(:empty)").first.wait_for()
    c.watcher.allowed.clear()
    c.page.once("dialog", lambda dialog: dialog.accept())
    c.page.locator("tr", has_text=name).get_by_role("button", name="Delete").click()
    c.page.locator("tr", has_text=name).wait_for(state="detached")
    with admin(gateway) as master:
        assert name not in {p["name"] for p in master.get("/admin/v1/mcp/tool-policies").json()["data"]}
        viewer = create_user(master)
        grant(master, viewer["id"], "system", None, "viewer")
        project = create_project(master)
        grant(master, viewer["id"], "project", project["id"], "viewer")
        viewer_key = user_key(master, project["id"], viewer["id"])
    v = console("system-viewer")
    v.sign_in(viewer_key, "mcp")
    assert v.form("New tool policy").count() == 0 and v.page.get_by_role("button", name="Delete").count() == 0
    v.check("mcp", axe=True)


def test_the_overview_reads_the_hourly_roll_ups(console: Any, gateway: RunningGateway) -> None:
    """A roll-up row with no ledger rows behind it shows on the overview: its figures come from the roll-ups (what
    keeps it fast on a large ledger, tests/ui/test_overview_lcp.py), not from the ledger."""
    table = ROLLUP_TABLES["usage_rollup_models"]
    hour = int(time.time() // 3600) - 2
    planted = {"hour": hour, "project_id": "", "team_id": "", "model": "planted-model", "provider": "demo"}
    planted |= {"requests": 424242, "cost_nanousd": 10**9, "input_tokens": 1, "output_tokens": 1}

    async def plant() -> None:
        async with gateway.worker.engine.begin() as conn:
            await conn.execute(table.insert().values(**planted))

    gateway.run(plant())
    try:
        c = console("system-admin")
        c.sign_in(MASTER_KEY, "overview")
        top = c.page.get_by_role("region", name="Top models table").inner_text()
        assert "planted-model" in top and "424" in top
    finally:

        async def remove() -> None:
            async with gateway.worker.engine.begin() as conn:
                await conn.execute(table.delete().where(table.c.model == "planted-model"))

        gateway.run(remove())
