"""The Providers page in headless Chromium: a system admin creates a provider pointing at a loopback OpenAI fake with
a write-only API key, a model on it, sends a chat completion through the gateway with that model, edits both,
deletes both; the config file's entries are listed read-only. A project admin and a project viewer get neither the
page nor its write controls, and the API refuses them the same calls from their own session. axe-core and the
error watch on every page; screenshots in tests/ui/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from tests.ui.test_console_browser import Console, _setup_roles

UPSTREAM_KEY = "sk-console-upstream-key-9876wxyz"
CONFIG = f"""
server: {{preload_tokenizers: false}}
catalog: {{secret_keys: ["{Fernet.generate_key().decode()}"]}}
providers:
  demo: {{type: mock}}
models:
  chat: [{{provider: demo, model: demo-chat, price: {{input: 3, output: 15}}}}]
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY).start() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI) -> Iterator[RunningGateway]:
    with gateway_from_yaml(CONFIG) as gw:
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


def _chat(gateway: RunningGateway, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello from the console test"}]}
    return httpx.post(
        gateway.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=10
    )


def _row(c: Console, section: str, name: str) -> Any:
    return c.page.get_by_role("region", name=f"{section} table").locator("tr", has_text=name)


def test_a_system_admin_creates_uses_edits_and_deletes_a_provider_and_a_model(
    console: Any, gateway: RunningGateway, upstream: FakeOpenAI
) -> None:
    c = console("system-admin")
    c.sign_in(MASTER_KEY, "providers", axe=True)
    # the config file's entries: listed, marked, and without write controls
    filed = _row(c, "Providers", "demo")
    assert "config file (read-only)" in filed.inner_text() and filed.get_by_role("button").count() == 0
    assert "config file (read-only)" in _row(c, "Models", "chat").inner_text()
    assert _row(c, "Models", "chat").get_by_role("button").count() == 0

    # an unknown setting: the API's message, verbatim, beside the JSON field it came from (param config.bse_url)
    c.watcher.allowed.append("/admin/v1/providers")
    form = c.form("New provider")
    form.locator("input[name=name]").fill("console-up")
    form.locator("select[name='config.type']").select_option("openai_compatible")
    form.locator("input[name='config.base_url']").fill(upstream.url)
    form.locator("input[name='config.api_key']").fill(UPSTREAM_KEY)
    form.locator("textarea[name=config]").fill('{"bse_url": "x"}')
    form.locator("button[type=submit]").click()
    beside = c.page.locator("form[aria-label='New provider'] textarea[name=config] ~ span.error")
    beside.wait_for()
    c.page.wait_for_function(
        "() => document.querySelector(\"form[aria-label='New provider'] textarea[name=config] ~ span.error\")"
        ".textContent.includes('bse_url')"
    )
    c.watcher.allowed.clear()
    form.locator("textarea[name=config]").fill("")
    form.locator("button[type=submit]").click()
    made = _row(c, "Providers", "console-up")
    made.wait_for()
    c.ready()
    text = made.inner_text()
    assert "database" in text and "api_key: set" in text and upstream.url in text
    assert UPSTREAM_KEY not in c.page.content() and UPSTREAM_KEY[-4:] not in c.page.content()  # write-only
    c.check("providers-created", axe=True)

    form = c.form("New model")
    form.locator("input[name=name]").fill("console-model")
    form.locator("select[name='config[0].provider']").select_option("console-up")
    form.locator("input[name='config[0].model']").fill("gpt-4o-mini")
    form.locator("input[name='config[0].price.input']").fill("2")
    form.locator("input[name='config[0].price.output']").fill("8")
    form.locator("button[type=submit]").click()
    model = _row(c, "Models", "console-model")
    model.wait_for()
    c.ready()
    assert "console-up \u2192 gpt-4o-mini" in model.inner_text() and "$2 in / $8 out" in model.inner_text()
    c.check("models-created", axe=True)

    # the gateway serves the model at once, through the provider, with the key typed into the console
    answer = _chat(gateway, "console-model")
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: hello from the console test"
    seen = upstream.last
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}" and seen.json["model"] == "gpt-4o-mini"

    # edit the provider: a new setting, the key left empty (kept)
    made.get_by_role("button", name="Edit").click()
    edit = c.form("Edit provider console-up")
    assert edit.locator("input[name='config.api_key']").input_value() == ""
    assert edit.locator("input[name='config.base_url']").input_value() == upstream.url
    c.check("provider-edit", axe=True)
    edit.locator("textarea[name=config]").fill('{"organization": "org-console"}')
    edit.locator("button[type=submit]").click()
    edit.wait_for(state="detached")  # saved: the page reloads its lists
    c.ready()
    assert "api_key: set" in _row(c, "Providers", "console-up").inner_text()
    assert _chat(gateway, "console-model").status_code == 200
    seen = upstream.last
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert seen.headers["openai-organization"] == "org-console"

    # the stored key removed, then set again: the upstream refuses the gateway without it, and takes the new one
    _row(c, "Providers", "console-up").get_by_role("button", name="Edit").click()
    edit = c.form("Edit provider console-up")
    assert edit.locator("textarea[name=config]").input_value().replace(" ", "").replace("\n", "") == (
        '{"organization":"org-console"}'
    )
    edit.locator("input[name=remove_key]").check()
    edit.locator("button[type=submit]").click()
    edit.wait_for(state="detached")
    c.ready()
    assert "none set" in _row(c, "Providers", "console-up").inner_text()
    assert _chat(gateway, "console-model").status_code != 200
    assert upstream.last.headers.get("authorization") is None
    _row(c, "Providers", "console-up").get_by_role("button", name="Edit").click()
    edit = c.form("Edit provider console-up")
    assert edit.locator("input[name=remove_key]").count() == 0  # nothing stored to remove
    edit.locator("input[name='config.api_key']").fill(UPSTREAM_KEY)
    edit.locator("button[type=submit]").click()
    edit.wait_for(state="detached")
    c.ready()
    assert "api_key: set" in _row(c, "Providers", "console-up").inner_text()
    assert _chat(gateway, "console-model").status_code == 200

    # edit the model's JSON: a new price shows in its row
    _row(c, "Models", "console-model").get_by_role("button", name="Edit").click()
    editor = c.form("Edit model console-model")
    body = editor.locator("textarea[name=config]").input_value()
    assert '"input": 2' in body
    editor.locator("textarea[name=config]").fill(body.replace('"input": 2', '"input": 4'))
    editor.locator("button[type=submit]").click()
    c.page.get_by_role("region", name="Models table").get_by_text("$4 in / $8 out").wait_for()
    c.ready()
    c.check("edited", axe=True)

    # a provider a stored model routes to cannot go: the API's refusal at the top of the page
    c.watcher.allowed.append("/admin/v1/providers/console-up")
    c.page.once("dialog", lambda dialog: dialog.accept())
    _row(c, "Providers", "console-up").get_by_role("button", name="Delete").click()
    refused = c.page.locator("main > .notice.refused")
    refused.wait_for()
    assert "console-model" in refused.inner_text()
    c.watcher.allowed.clear()

    c.page.once("dialog", lambda dialog: dialog.accept())
    _row(c, "Models", "console-model").get_by_role("button", name="Delete").click()
    _row(c, "Models", "console-model").wait_for(state="detached")
    c.ready()
    assert _chat(gateway, "console-model").status_code == 404
    c.page.once("dialog", lambda dialog: dialog.accept())
    _row(c, "Providers", "console-up").get_by_role("button", name="Delete").click()
    _row(c, "Providers", "console-up").wait_for(state="detached")
    c.ready()
    with httpx.Client(base_url=gateway.root, headers={"authorization": f"Bearer {MASTER_KEY}"}) as api:
        names = [p["name"] for p in api.get("/admin/v1/providers").json()["data"]]
    assert names == ["demo"]
    c.check("deleted", axe=True)
    c.open("/ui/models")  # the router's view links to the catalog
    c.page.get_by_role("link", name="Providers page").click()
    c.page.wait_for_url(f"{gateway.root}/ui/providers")
    c.page.get_by_role("heading", name="Providers", exact=True).first.wait_for()


REFUSED = """async () => {
  const session = await (await fetch('/admin/v1/session')).json();
  const headers = {'content-type': 'application/json', 'x-csrf-token': session.csrf_token};
  const body = JSON.stringify({name: 'sneaky', config: {type: 'mock'}});
  return [
    (await fetch('/admin/v1/providers')).status,
    (await fetch('/admin/v1/models')).status,
    (await fetch('/admin/v1/provider-types')).status,
    (await fetch('/admin/v1/providers', {method: 'POST', headers, body})).status,
    (await fetch('/admin/v1/models/chat', {method: 'DELETE', headers})).status,
  ];
}"""


def test_project_admins_and_viewers_get_no_catalog_page_and_the_api_refuses_them(
    console: Any, gateway: RunningGateway
) -> None:
    s = _setup_roles(gateway)
    for who, key in (("project-admin", s["admin_key"]), ("project-viewer", s["viewer_key"])):
        c = console(who)
        c.sign_in(key, "overview")
        assert c.page.get_by_role("navigation", name="Pages").get_by_role("link", name="Providers").count() == 0
        c.open("/ui/providers")
        assert "Your roles do not include this page." in c.main_text()
        assert c.form("New provider").count() == 0 and c.form("New model").count() == 0
        assert c.page.locator("main button").count() == 0
        c.check("providers", axe=True)
        c.watcher.allowed.extend(["/admin/v1/providers", "/admin/v1/models", "/admin/v1/provider-types"])
        assert c.page.evaluate(REFUSED) == [403, 403, 403, 403, 403]
        c.watcher.allowed.clear()
        assert c.watcher.problems == []
