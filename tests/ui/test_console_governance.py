"""The console's pages for the other governed objects, in headless Chromium: guards (create, test, edit, delete),
prompts (versions, a diff, labels, a pending approval approved by another user, a canary), MCP (a real upstream's
health, virtual servers, policies, a tool call made through the gateway), alerts (one that fires on the
real ledger, on its page and the overview), config versions, and keys paged on the server. A project viewer sees
none of another project's guards or prompts, whatever id the URL holds. axe-core and the error watch on every page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.api.admin.support import admin, chat, create_project, create_user, flush, grant, unique, user_key
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from tests.ui.test_console_browser import Console

CONFIG = """
server: {{preload_tokenizers: false}}
providers:
  demo: {{type: mock}}
models:
  chat: [{{provider: demo, model: demo-chat, price: {{input: 3, output: 15}}}}]
  routed:
    deployments: [{{provider: demo, model: demo-chat}}]
    canary: {{deployment: {{provider: demo, model: demo-next}}, percent: 10, sticky: key}}
prompts:
  protected_labels: {{production: {{approvals: 1}}}}
  canary_check_s: 3600
alerts:
  - {{name: busy, signal: requests, detector: {{type: threshold, above: 2}}, window_s: 600}}
mcp:
  servers:
    files: {{transport: streamable_http, url: "{url}"}}
  virtual_servers:
    dev: {{servers: [files], tools: {{include: ["files.*"], exclude: ["files.delete_*"]}}, prefix: true}}
tool_policies:
  - {{name: no-crash, scope: global, deny: ["files.crash"]}}
"""


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    from tests.mcp.upstream import LoopbackMCP  # the official SDK's server, in a thread on loopback

    with LoopbackMCP("streamable_http", "files") as upstream, gateway_from_yaml(CONFIG.format(url=upstream.url)) as gw:
        yield gw


@pytest.fixture
def console(tools: tuple[Any, str], gateway: RunningGateway) -> Iterator[Any]:
    opened: list[Console] = []

    def make(who: str) -> Console:
        opened.append(Console(tools, gateway, who))
        return opened[-1]

    yield make
    for c in opened:
        c.close()


def _off_thread(work: Any) -> Any:
    """Async client code run on a thread of its own: Playwright's sync API holds this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work()).result(timeout=60)


def _call_a_tool(gateway: RunningGateway) -> None:
    from tests.mcp.client import mcp_session

    async def work() -> str:
        async with mcp_session(gateway.root + "/mcp/dev", MASTER_KEY) as session:
            result = await session.call_tool("files.echo", {"text": "from the console test"})
            return str(result.content[0].text)  # type: ignore[union-attr]

    assert _off_thread(work) == "files:from the console test"


def _until(check: Any, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_guards_are_created_tested_edited_and_deleted(console: Any) -> None:
    c = console("system-admin")
    c.sign_in(MASTER_KEY, "guards")
    name = unique("no-tickets")
    form = c.form("New guard")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=type]").select_option("regex")
    form.locator("textarea[name=patterns]").fill("TICKET-[0-9]+")
    form.locator("button[type=submit]").click()
    row = c.page.locator("tr", has_text=name)
    row.wait_for()
    assert "regex" in row.inner_text() and "api" in row.inner_text()

    tester = c.form("Test guards")
    tester.locator("textarea[name=text]").fill("see TICKET-1234 please")
    tester.locator("input[name=guards]").fill(name)
    tester.locator("button[type=submit]").click()
    c.page.get_by_role("heading", name="Result: blocked").wait_for()
    assert name in c.page.get_by_role("region", name="Findings").inner_text()
    c.check("guards", axe=True)

    row.get_by_role("button", name="Edit").click()
    editor = c.form(f"Edit guard {name}")
    text = editor.locator("textarea[name=json]").input_value()
    c.watcher.allowed.append("/admin/v1/guards/")
    editor.locator("textarea[name=json]").fill(text.replace('"block"', '"sometimes"', 1))
    editor.locator("button[type=submit]").click()
    refusal = editor.locator(".error[role=alert]:not(:empty)").first
    refusal.wait_for()
    assert "sometimes" in refusal.inner_text() or "action" in refusal.inner_text()  # the API's message, verbatim
    c.watcher.allowed.clear()
    editor.locator("textarea[name=json]").fill(text.replace('"block"', '"warn"', 1))
    editor.locator("button[type=submit]").click()
    c.page.locator("tr", has_text=name).get_by_role("cell", name="warn", exact=True).wait_for()

    c.page.once("dialog", lambda dialog: dialog.accept())
    c.page.locator("tr", has_text=name).get_by_role("button", name="Delete").click()
    c.page.locator("tr", has_text=name).wait_for(state="detached")
    c.check("guards-after")


def test_a_prompt_is_versioned_diffed_promoted_with_approval_and_canaried(
    console: Any, gateway: RunningGateway
) -> None:
    with admin(gateway) as master:
        reviewer = create_user(master)
        project = create_project(master)
        grant(master, reviewer["id"], "system", None, "admin")
        reviewer_key = user_key(master, project["id"], reviewer["id"])
    c = console("system-admin")
    c.sign_in(MASTER_KEY, "prompts")
    name = unique("support-reply")
    form = c.form("New prompt")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=project]").select_option("")  # system-wide
    form.locator("button[type=submit]").click()
    c.page.get_by_role("heading", name=f"Prompt {name}").wait_for()
    assert f"name={name}" in c.page.url  # the prompt's own deep link

    for text in ("Answer {{ question }} politely.", "Answer {{ question }} politely and briefly."):
        push = c.form("Push a version")
        push.locator("textarea[name=messages]").fill(f'[{{"role": "system", "content": "{text}"}}]')
        push.locator("button[type=submit]").click()
        c.ready()
        c.page.wait_for_function(f"() => document.querySelectorAll('[aria-label=Versions] tbody tr').length >= "
                                 f"{1 if 'briefly' not in text else 2}")  # fmt: skip
    compare = c.form("Compare versions")
    compare.locator("button[type=submit]").click()
    changes = c.page.get_by_role("region", name="Differences")
    changes.wait_for()
    assert "- Answer {{ question }} politely." in changes.locator("del").all_inner_texts()
    assert "+ Answer {{ question }} politely and briefly." in changes.locator("ins").all_inner_texts()

    move = c.form("Move a label")
    move.locator("input[name=reason]").fill("ship the shorter answer")
    move.locator("button[type=submit]").click()
    pending = c.page.locator("section[aria-label='Pending approvals']")
    pending.get_by_role("cell", name="ship the shorter answer").wait_for()
    c.watcher.allowed.append("/approve")
    pending.get_by_role("button", name="Approve").click()  # the master key asked: it may not approve
    c.page.locator("main .notice.refused").wait_for()
    c.watcher.allowed.clear()
    c.check("prompt-pending")

    r = console("reviewer")
    r.sign_in(reviewer_key, "prompts")
    r.page.get_by_role("link", name=name).click()
    r.page.locator("section[aria-label='Pending approvals']").get_by_role("button", name="Approve").click()
    r.page.get_by_text("No promotion is waiting for approval.").wait_for()
    labels = r.page.locator("section[aria-label='Labels']").inner_text()
    assert "production" in labels and "v2" in labels
    r.check("prompt-approved")

    c.open(f"/ui/prompts?name={name}")
    canary = c.form("Start a canary")
    canary.locator("select[name=version]").select_option(index=1)  # v1, against v2 on production
    canary.locator("input[name=percent]").fill("10")
    canary.locator("button[type=submit]").click()
    row = c.page.locator("section[aria-label='Canaries']").locator("tbody tr")
    row.wait_for()
    assert "production" in row.inner_text() and "10" in row.inner_text() and "v1" in row.inner_text()
    c.check("prompt-canary", axe=True)
    row.get_by_role("button", name="End").click()
    c.page.get_by_text("No canary is running.").wait_for()
    labels = c.page.locator("section[aria-label='Labels']")
    assert labels.get_by_role("button", name="Roll back").count() == 0  # production has no earlier version
    for index in (1, 0):  # dev: v1, then v2 (not protected: applied at once)
        move = c.form("Move a label")
        move.locator("input[name=label]").fill("dev")
        move.locator("select[name=version]").select_option(index=index)
        move.locator("input[name=reason]").fill(f"dev to version {2 - index}")
        move.locator("button[type=submit]").click()
        c.page.wait_for_function(
            "(v) => [...document.querySelectorAll(\"section[aria-label='Labels'] tbody tr\")]"
            ".some((tr) => tr.cells[0].textContent === 'dev' && tr.cells[1].textContent.startsWith(v))",
            arg=f"v{2 - index}",
        )
    c.page.once("dialog", lambda dialog: dialog.accept("back to the long answer"))
    labels.locator("tr", has_text="dev").get_by_role("button", name="Roll back").click()
    c.page.wait_for_function(
        "() => [...document.querySelectorAll(\"section[aria-label='Labels'] tbody tr\")]"
        ".some((tr) => tr.cells[0].textContent === 'dev' && tr.cells[1].textContent.startsWith('v1'))"
    )
    c.check("prompt")


def test_mcp_virtual_servers_made_in_the_console_show_their_source(console: Any, gateway: RunningGateway) -> None:
    name = unique("ui-vs")
    c = console("system-admin")
    c.sign_in(MASTER_KEY, "mcp")
    assert "config" in c.page.get_by_role("region", name="MCP servers", exact=True).inner_text()
    form = c.form("New virtual server")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=servers]").fill("files")
    form.locator("input[name=include]").fill("files.echo")
    form.locator("button[type=submit]").click()
    row = c.page.get_by_role("region", name="Virtual MCP servers").locator("tr", has_text=name)
    row.wait_for()
    assert "api" in row.inner_text() and f"/mcp/{name}" in row.inner_text()
    c.check("mcp-virtual-server", axe=True)
    c.page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    with admin(gateway) as master:
        assert master.get(f"/admin/v1/mcp/virtual-servers/{name}").status_code == 404


def test_mcp_alerts_config_and_the_overview_show_live_state(console: Any, gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        _until(lambda: master.get("/admin/v1/mcp/servers").json()["data"][0]["healthy"], "the stdio upstream is up")
        project = create_project(master)
        key = master.post("/admin/v1/keys", json={"project": project["id"]}).json()["key"]
    _call_a_tool(gateway)
    for _ in range(3):
        assert chat(gateway, key).status_code == 200
    flush(gateway)
    runner = gateway.worker.alerts
    assert runner is not None
    fired = gateway.run(runner.evaluate(time.time() + 1))
    assert [f.alert for f in fired] == ["busy"]

    c = console("system-admin")
    c.sign_in(MASTER_KEY, "mcp")
    servers = c.page.get_by_role("region", name="MCP servers", exact=True).inner_text()
    assert "files" in servers and "healthy" in servers and "streamable_http" in servers and "echo" in servers
    assert "files.*" in c.page.get_by_role("region", name="Virtual MCP servers").inner_text()
    assert "files.crash" in c.page.get_by_role("region", name="Tool policies").last.inner_text()
    calls = c.page.get_by_role("region", name="Tool calls", exact=True).inner_text()
    assert "files.echo" in calls
    c.check("mcp", axe=True)
    c.page.emulate_media(color_scheme="dark")
    c.check("mcp-dark", axe=True)
    c.page.emulate_media(color_scheme="light")

    c.open("/ui/alerts")
    assert "Firing now: busy" in c.main_text()
    assert "busy" in c.page.locator("section[aria-label='Recent firings']").inner_text()
    c.check("alerts", axe=True)
    c.open("/ui/overview")
    firing = c.page.locator("section[aria-label='Firing alerts']").inner_text()
    assert "busy" in firing and "requests" in firing
    assert project["name"] in c.page.locator("section[aria-label='Top projects']").inner_text()
    c.check("overview-alerts", axe=True)

    c.open("/ui/models")
    deployments = c.page.get_by_role("region", name="Deployments", exact=True).inner_text()
    assert "demo/demo-next" in deployments and "closed" in deployments
    canary = c.page.locator("section[aria-label='Canaries'] tbody tr")
    assert "routed" in canary.inner_text() and "active" in canary.inner_text()
    c.check("models", axe=True)
    for action, status in (("Rollback", "rolled_back"), ("Promote", "promoted"), ("Resume", "active")):
        canary.get_by_role("button", name=action).click()
        canary.get_by_role("cell", name=status, exact=True).wait_for()
        c.ready()

    c.open("/ui/config")
    assert "No config has been applied" in c.main_text()
    c.watcher.allowed.append("/admin/v1/config/versions")
    form = c.form("Apply a config")
    form.locator("textarea[name=yaml]").fill("providers: {demo: {type: nope}}\n")
    form.locator("button[type=submit]").click()
    beside = form.locator("textarea[name=yaml] ~ span.error")
    c.page.wait_for_function(
        "() => document.querySelector('form[aria-label=\"Apply a config\"] textarea ~ span.error').textContent"
    )
    assert "nothing applied" in beside.inner_text()  # next to the field the API named
    c.watcher.allowed.clear()
    c.check("config", axe=True)


def test_keys_page_on_the_server_and_project_roles_see_and_do_only_their_own_guards_and_prompts(
    console: Any, gateway: RunningGateway
) -> None:
    with admin(gateway) as master:
        mine, foreign = create_project(master), create_project(master)
        viewer = create_user(master)
        grant(master, viewer["id"], "project", mine["id"], "viewer")
        viewer_key = user_key(master, mine["id"], viewer["id"])
        boss = create_user(master)
        grant(master, boss["id"], "project", mine["id"], "admin")
        boss_key = user_key(master, mine["id"], boss["id"])
        own_prompt = unique("own-prompt")
        assert master.post("/admin/v1/prompts", json={"name": own_prompt, "project": mine["id"]}).status_code == 201
        for i in range(53):  # 55 keys with the viewer's and the admin's: a full page of 50 and 5 on the next
            assert master.post("/admin/v1/keys", json={"project": mine["id"], "name": f"k{i:02}"}).status_code == 201
        guard = {"name": unique("foreign-guard"), "type": "regex", "scope": "project", "match": foreign["id"]}
        guard["patterns"] = ["x"]
        assert master.post("/admin/v1/guards", json=guard).status_code == 201
        secret_prompt = unique("foreign-prompt")
        made = master.post("/admin/v1/prompts", json={"name": secret_prompt, "project": foreign["id"]})
        assert made.status_code == 201, made.text
    b = console("project-admin")
    b.sign_in(boss_key, "guards")  # a project admin makes guards for its own project only
    form = b.form("New guard")
    assert form.locator("select[name=scope] option").all_inner_texts() == ["project"]
    assert form.locator("select[name=match] option").all_inner_texts() == [mine["id"]]
    own_guard = unique("own-guard")
    form.locator("input[name=name]").fill(own_guard)
    form.locator("select[name=type]").select_option("secrets")
    form.locator("button[type=submit]").click()
    b.page.locator("tr", has_text=own_guard).get_by_role("button", name="Delete").wait_for()
    assert guard["name"] not in b.main_text()
    b.check("guards", axe=True)

    v = console("project-viewer")
    v.sign_in(viewer_key, "guards")
    assert own_guard in v.main_text() and guard["name"] not in v.main_text()
    assert v.form("New guard").count() == 0 and v.page.get_by_role("button", name="Delete").count() == 0
    v.open("/ui/prompts")
    assert own_prompt in v.main_text() and secret_prompt not in v.main_text() and v.form("New prompt").count() == 0
    v.page.get_by_role("link", name=own_prompt).click()
    v.page.get_by_role("heading", name=f"Prompt {own_prompt}").wait_for()
    v.ready()
    assert v.form("Push a version").count() == 0  # reading is all a viewer does
    v.check("prompt", axe=True)
    v.open("/ui/keys")
    rows = v.page.locator("[aria-label=Keys] tbody tr")
    assert rows.count() == 50
    v.page.get_by_role("link", name="Next page").click()
    v.page.get_by_role("link", name="First page").wait_for()
    v.ready()
    assert rows.count() == 5 and "cursor=" in v.page.url
    assert v.page.get_by_role("link", name="Next page").count() == 0
    v.check("keys-page-2", axe=True)

    nav = v.page.get_by_role("navigation", name="Pages", exact=True).inner_text()
    assert "Guards" in nav and "Prompts" in nav and "MCP" not in nav and "Config" not in nav
    v.watcher.allowed.extend(["/admin/v1/prompts/"])
    for path in (
        f"/ui/guards?project={foreign['id']}",
        f"/ui/prompts?project={foreign['id']}",
        "/ui/mcp",
        "/ui/alerts",
        "/ui/config",
    ):
        v.open(path)
        text = v.main_text()
        assert guard["name"] not in text and secret_prompt not in text and foreign["id"] not in text, path
    assert "Your roles do not include this page." in v.main_text()
    # a foreign prompt's deep link reads exactly as one of a project that does not exist: the ids typed, no more
    v.open(f"/ui/prompts?name={secret_prompt}&project={foreign['id']}")
    foreign_text = v.main_text().replace(foreign["id"], "P").replace(secret_prompt, "N")
    v.open("/ui/prompts?name=no-such-prompt&project=prj_0000000000000000")
    assert foreign_text == v.main_text().replace("prj_0000000000000000", "P").replace("no-such-prompt", "N")
    assert guard["name"] not in foreign_text
    v.check("foreign-governed")
