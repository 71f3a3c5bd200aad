"""The console driven in headless Chromium (Debian's, through Playwright): sign-in and back, what a system admin,
a project admin and a project viewer may see and do, the create → spend → see → revoke → export path, foreign ids,
axe-core on every page, and no console error or failed request anywhere. Screenshots go to tests/ui/screenshots/."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.api.admin.support import admin, chat, create_project, create_user, flush, grant, unique, user_key
from tests.support import MASTER_KEY, RunningGateway
from tests.ui.browser import SCREENSHOTS, Watcher, axe_violations
from wardgate.ui.serve import PAGES

TIMEOUT_MS = 10_000


class Console:
    """One signed-in browser context, watched for errors."""

    def __init__(self, tools: tuple[Any, str], gateway: RunningGateway, who: str) -> None:
        browser, self.axe = tools
        self.root = gateway.root
        self.who = who
        self.context = browser.new_context(accept_downloads=True)  # the pages' own CSP stays on
        self.context.add_init_script(script=self.axe)  # axe-core in every page, outside the CSP
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.watcher = Watcher()
        self.watcher.attach(self.page)

    def sign_in(self, key: str, page: str = "overview", *, axe: bool = False) -> None:
        self.page.goto(f"{self.root}/ui/{page}")
        assert "/ui/signin?next=" in self.page.url  # no session: to sign-in, remembering where we were going
        if axe:
            self.ready()
            self.check("signin", axe=True)
        self.page.fill("input[name=key]", key)
        self.page.click("form button[type=submit]")
        self.page.wait_for_url(f"{self.root}/ui/{page}")
        self.ready()

    def open(self, path: str) -> None:
        self.page.goto(f"{self.root}{path}")
        self.ready()

    def ready(self) -> None:
        self.page.wait_for_selector("main[data-ready=true]", state="attached")

    def main_text(self) -> str:
        return str(self.page.inner_text("main"))

    def check(self, name: str, *, axe: bool = False) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.who}-{name}.png"), full_page=True)
        if axe:
            assert axe_violations(self.page) == [], name
        assert self.watcher.problems == [], name

    def form(self, title: str) -> Any:
        return self.page.locator(f"form[aria-label='{title}']")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def console(tools: tuple[Any, str], gateway: RunningGateway) -> Iterator[Any]:
    opened: list[Console] = []

    def make(who: str) -> Console:
        opened.append(Console(tools, gateway, who))
        return opened[-1]

    yield make
    for c in opened:
        c.close()


def test_system_admin_creates_spends_sees_revokes_and_exports(console: Any, gateway: RunningGateway) -> None:
    c = console("system-admin")
    c.sign_in(MASTER_KEY, "projects", axe=True)
    c.check("signed-in", axe=True)
    name = unique("console")

    form = c.form("New project")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=cost_center]").fill("CC-42")
    form.locator("button[type=submit]").click()
    c.page.get_by_role("cell", name=name).wait_for()
    c.ready()
    c.watcher.allowed.append("/admin/v1/projects")  # the duplicate below is refused, on purpose
    form = c.form("New project")
    form.locator("input[name=name]").fill(name)
    form.locator("button[type=submit]").click()
    refusal = form.locator("p.error[role=alert]")
    refusal.wait_for()
    assert "already" in refusal.inner_text()  # the API's own message, verbatim
    c.watcher.allowed.clear()
    c.page.locator("tr", has_text=name).get_by_role("button", name="Teams and agents").click()
    team_form = c.form("New team")
    team_form.locator("input[name=name]").fill("blue-team")
    team_form.locator("button[type=submit]").click()
    c.page.get_by_role("cell", name="blue-team", exact=True).wait_for()
    c.check("projects", axe=True)
    with admin(gateway) as master:
        project = next(p for p in master.get("/admin/v1/projects").json()["data"] if p["name"] == name)

    c.open("/ui/keys")
    form = c.form("New key")
    form.locator("select[name=project]").select_option(project["id"])
    form.locator("input[name=name]").fill("from-the-console")
    form.locator("button[type=submit]").click()
    secret = c.page.locator("code.secret")
    secret.wait_for()
    key = secret.inner_text().strip()
    assert key.startswith("sk-wg-")
    c.check("keys-created", axe=True)

    c.open("/ui/budgets")
    c.watcher.allowed.append("/admin/v1/budgets")
    form = c.form("New budget")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=match]").fill(project["id"])
    form.locator("input[name=limit_usd]").fill("0.0000000001")  # more decimals than nano-dollars
    form.locator("button[type=submit]").click()
    beside = form.locator("input[name=limit_usd] ~ span.error")
    beside.wait_for(state="attached")
    c.page.wait_for_function(
        "() => document.querySelector('form[aria-label=\"New budget\"] input[name=limit_usd] ~ span.error')"
        ".textContent !== ''"
    )
    assert "decimal" in beside.inner_text()  # next to the field the API named in `param`
    c.watcher.allowed.clear()
    form.locator("input[name=limit_usd]").fill("5")
    form.locator("button[type=submit]").click()
    c.page.get_by_role("cell", name=name, exact=True).first.wait_for()
    limit_form = c.form("New rate limit")
    limit_form.locator("input[name=name]").fill(name + "-rpm")
    limit_form.locator("input[name=rpm]").fill("600")
    limit_form.locator("button[type=submit]").click()
    c.page.get_by_role("cell", name=name + "-rpm", exact=True).wait_for()
    c.page.locator("tr", has_text=name + "-rpm").get_by_role("button", name="Edit").click()
    editor = c.form(f"Edit rate limit {name}-rpm")
    editor.locator("textarea[name=json]").fill(
        editor.locator("textarea[name=json]").input_value().replace('"rpm": 600', '"rpm": 1200')
    )
    editor.locator("button[type=submit]").click()
    c.page.locator("tr", has_text=name + "-rpm").get_by_role("cell", name="1200", exact=True).wait_for()

    for _ in range(3):
        assert chat(gateway, key).status_code == 200
    flush(gateway)
    c.open("/ui/budgets")
    row = c.page.locator("tr", has_text=name).first
    assert row.locator(".bar").get_attribute("aria-label") != ""
    assert "0.000000000 spent" not in (row.locator(".bar").get_attribute("aria-label") or "")
    c.check("budgets", axe=True)
    row.get_by_role("button", name="Edit").click()
    editor = c.form(f"Edit budget {name}")
    edited = json.loads(editor.locator("textarea[name=json]").input_value())
    assert edited["match"] == project["id"] and Decimal(edited["limit_usd"]) == 5
    editor.locator("textarea[name=json]").fill(json.dumps({**edited, "limit_usd": "7"}))
    editor.locator("button[type=submit]").click()
    editor.wait_for(state="detached")  # saved: the page reloaded without the editor
    with admin(gateway) as master:
        (state,) = master.get(f"/admin/v1/budgets/{name}").json()["data"]
    assert Decimal(state["limit"]) == 7

    c.open(f"/ui/usage?group_by=project&project={project['id']}")
    table = c.main_text()
    assert project["id"] in table and "\t3\t" in table  # three requests on the project
    c.page.locator("tr", has_text=project["id"]).get_by_role("button", name="Requests").click()
    c.page.get_by_role("region", name="Requests").wait_for()  # the ledger rows behind the line, from the API
    requests = c.page.get_by_role("region", name="Requests").inner_text()
    assert requests.count("\t200\t") == 3 and "chat" in requests
    c.check("usage", axe=True)
    c.open(f"/ui/usage?group_by=status,operation&project={project['id']}")  # dimensions of the analytics API
    by_status = c.page.get_by_role("region", name="Usage", exact=True).inner_text()
    assert "200\tchat\t3\t" in by_status
    assert c.page.get_by_role("img", name="Spend per day in the range (USD)").count() == 1
    c.open("/ui/overview")
    c.check("overview", axe=True)
    c.page.emulate_media(color_scheme="dark")  # the dark theme meets the same contrast
    c.check("overview-dark", axe=True)
    c.page.emulate_media(color_scheme="light")

    c.open("/ui/chargeback")
    assert name in c.main_text() and "CC-42" in c.main_text()
    with c.page.expect_download() as download:
        c.page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    ours = next(r for r in rows if r["project_id"] == project["id"])
    assert (ours["project"], ours["cost_center"], ours["model"], ours["requests"]) == (name, "CC-42", "chat", "3")
    assert Decimal(ours["cost_usd"]) > 0
    with c.page.expect_download() as download:
        c.page.get_by_role("link", name="Download Parquet").click()
    table = pq.read_table(download.value.path()).to_pylist()
    assert [(r["project"], r["requests"], r["cost_usd"]) for r in table if r["project_id"] == project["id"]] == [
        (name, 3, Decimal(ours["cost_usd"]))
    ]
    c.check("chargeback", axe=True)

    c.open(f"/ui/keys?project={project['id']}")
    c.page.locator("tr", has_text="from-the-console").get_by_role("button", name="Revoke").click()
    c.page.locator("tr", has_text="from-the-console").get_by_role("cell", name="revoked").wait_for()
    assert chat(gateway, key).status_code == 401
    c.check("keys", axe=True)

    with admin(gateway) as master:
        newcomer = create_user(master)
    c.open("/ui/users")
    grant_form = c.form("Grant a role")
    grant_form.locator("select[name=user]").select_option(newcomer["id"])
    grant_form.locator("select[name=scope_id]").select_option(project["id"])
    grant_form.locator("select[name=role]").select_option("member")
    grant_form.locator("button[type=submit]").click()
    newcomer_row = c.page.locator("tr", has_text=newcomer["email"])
    newcomer_row.get_by_text(f"member of {name}").wait_for()
    newcomer_row.get_by_role("button", name="Remove").click()
    c.page.locator("tr", has_text=newcomer["email"]).get_by_role("button", name="Remove").wait_for(state="detached")
    assert f"member of {name}" not in c.page.locator("tr", has_text=newcomer["email"]).inner_text()
    for page in ("models", "cache", "users", "audit"):
        c.open(f"/ui/{page}")
        c.check(page, axe=True)
    c.page.get_by_role("button", name="Verify chain").click()
    c.page.get_by_text("Chain verified").wait_for()


def _setup_roles(gateway: RunningGateway) -> dict[str, Any]:
    with admin(gateway) as master:
        mine, foreign = create_project(master), create_project(master, cost_center="CC-FOREIGN")
        boss, viewer = create_user(master), create_user(master)
        grant(master, boss["id"], "project", mine["id"], "admin")
        grant(master, viewer["id"], "project", mine["id"], "viewer")
        foreign_key = master.post("/admin/v1/keys", json={"project": foreign["id"], "name": "foreign-key"}).json()
        assert chat(gateway, foreign_key["key"]).status_code == 200
        own_key = master.post("/admin/v1/keys", json={"project": mine["id"], "name": "own-key"}).json()
        assert chat(gateway, own_key["key"]).status_code == 200
        flush(gateway)
        return {
            "mine": mine,
            "foreign": foreign,
            "foreign_prefix": foreign_key["prefix"],
            "admin_key": user_key(master, mine["id"], boss["id"]),
            "viewer_key": user_key(master, mine["id"], viewer["id"]),
        }


def test_a_project_admin_and_a_viewer_see_and_do_only_their_roles_and_never_a_foreign_project(
    console: Any, gateway: RunningGateway
) -> None:
    s = _setup_roles(gateway)
    boss = console("project-admin")
    boss.sign_in(s["admin_key"], "projects")
    assert s["mine"]["name"] in boss.main_text() and s["foreign"]["name"] not in boss.main_text()
    assert boss.form("New project").count() == 0  # creating projects is for system admins
    boss.page.locator("tr", has_text=s["mine"]["name"]).get_by_role("button", name="Edit").click()
    edit = boss.form(f"Edit project {s['mine']['name']}")
    edit.locator("input[name=cost_center]").fill("CC-EDITED")
    edit.locator("button[type=submit]").click()
    boss.page.locator("tr", has_text=s["mine"]["name"]).get_by_role("cell", name="CC-EDITED").wait_for()
    boss.check("projects")
    boss.open("/ui/keys")
    assert boss.form("New key").count() == 1
    assert boss.page.locator("tr", has_text="own-key").get_by_role("button", name="Revoke").count() == 1
    assert s["foreign_prefix"] not in boss.main_text()
    boss.check("keys")
    boss.open("/ui/audit")  # project admins read their projects' trail
    assert boss.page.get_by_role("button", name="Verify chain").count() == 0
    boss.check("audit")

    viewer = console("project-viewer")
    viewer.sign_in(s["viewer_key"], "keys")
    assert viewer.form("New key").count() == 0
    assert viewer.page.get_by_role("button", name="Revoke").count() == 0
    assert "own-key" in viewer.main_text()
    viewer.check("keys")
    viewer.open("/ui/budgets")
    assert viewer.form("New budget").count() == 0
    viewer.check("budgets")

    # foreign ids typed into every page's URL: the API refuses (404, expected), nothing of the project shows
    viewer.watcher.allowed.extend(
        ["/admin/v1/keys", "/admin/v1/usage", "/admin/v1/analytics", "/admin/v1/audit", "/admin/v1/chargeback"]
    )
    foreign = s["foreign"]
    for page in sorted(PAGES):
        viewer.open(f"/ui/{page}?project={foreign['id']}&group_by=project,key")
        text = viewer.main_text()
        for secret in (foreign["name"], s["foreign_prefix"], "CC-FOREIGN"):
            assert secret not in text, (page, secret)
    viewer.check("foreign-ids")
