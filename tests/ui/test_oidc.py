"""Console sign-in with OIDC (authorization code + PKCE) against a fake issuer: in a real browser from the sign-in
page to a signed-in page with the roles the token's groups grant, and the refusals without one (state, nonce, a
flow that was never started)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import RunningGateway
from tests.ui.browser import Watcher
from tests.ui.oidc_issuer import FakeOIDCProvider
from wardgate.config import load_config_text
from wardgate.config.schema import OIDC_CALLBACK_PATH

CLIENT_ID = "wardgate-console"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOIDCProvider]:
    with FakeOIDCProvider(CLIENT_ID, {"sub": "sso-admin", "groups": ["platform"]}) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(provider: FakeOIDCProvider) -> Iterator[RunningGateway]:
    with tempfile.TemporaryDirectory(prefix="wardgate-oidc-") as tmp:
        text = f"""
master_key: sk-test-master-key
store: sqlite:///{tmp}/wardgate.db
identity:
  jwt:
    issuer: "{provider.url}"
    audience: [wardgate, {CLIENT_ID}]
    admin: {{claim: groups, roles: [{{value: platform, role: admin}}]}}
ui:
  oidc: {{client_id: {CLIENT_ID}, redirect_url: "http://127.0.0.1:1{OIDC_CALLBACK_PATH}"}}
providers:
  demo: {{type: mock}}
models:
  chat: [{{provider: demo, model: demo-chat}}]
"""
        settings = load_config_text(text, source="test.yaml", env={})
        gw = RunningGateway(settings)  # binds its port now: the redirect URL names it before the workers start
        assert settings.ui.oidc is not None
        oidc = settings.ui.oidc.model_copy(update={"redirect_url": gw.root + OIDC_CALLBACK_PATH})
        gw.settings = gw.app.settings = settings.model_copy(
            update={"ui": settings.ui.model_copy(update={"oidc": oidc})}
        )
        with gw.start():
            yield gw


def test_the_config_needs_the_issuer_and_the_client_in_its_audience() -> None:
    base = "master_key: sk-test-master-key\nui:\n  oidc: {client_id: c, redirect_url: 'https://g.example/x'}\n"
    with pytest.raises(Exception, match="redirect_url"):
        load_config_text(base, source="t.yaml", env={})
    callback = f"https://g.example{OIDC_CALLBACK_PATH}"
    with pytest.raises(Exception, match="identity.jwt"):
        load_config_text(base.replace("https://g.example/x", callback), source="t.yaml", env={})


def test_sign_in_with_the_issuer_in_a_browser(
    tools: tuple[Any, str], gateway: RunningGateway, provider: FakeOIDCProvider
) -> None:
    browser, _ = tools
    context = browser.new_context()
    try:
        context.set_default_timeout(10_000)
        page = context.new_page()
        watcher = Watcher()
        watcher.attach(page)
        page.goto(gateway.root + "/ui/projects")
        page.get_by_role("link", name="Sign in with your identity provider").click()
        page.wait_for_url(gateway.root + "/ui/projects")
        page.wait_for_selector("main[data-ready=true]", state="attached")
        assert "system admin" in page.inner_text("header")
        assert page.locator("form[aria-label='New project']").count() == 1  # the group's role: system admin
        cookies: dict[str, Any] = {c["name"]: c for c in context.cookies()}
        session = cookies["wardgate_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert "wardgate_oidc" not in cookies  # the flow's cookie is spent
        assert watcher.problems == []
    finally:
        context.close()
    assert provider.token_refusals == []


def test_a_callback_without_its_flow_or_with_another_state_is_refused(
    gateway: RunningGateway, provider: FakeOIDCProvider
) -> None:
    callback = gateway.root + OIDC_CALLBACK_PATH
    assert httpx.get(callback, params={"code": "x", "state": "y"}).status_code == 401  # never started here
    with httpx.Client(base_url=gateway.root, timeout=10) as client:
        started = client.get("/admin/v1/session/oidc", params={"next": "https://evil.example/"})
        assert started.status_code == 303 and started.headers["location"].startswith(provider.url + "/authorize?")
        assert "SameSite=Lax" in started.headers["set-cookie"] and "HttpOnly" in started.headers["set-cookie"]
        issuer_answer = httpx.get(started.headers["location"])
        assert issuer_answer.status_code == 302
        back = httpx.URL(issuer_answer.headers["location"])
        forged = client.get(OIDC_CALLBACK_PATH, params={"code": back.params["code"], "state": "forged"})
        assert forged.status_code == 401 and "state" in forged.json()["error"]["message"]
        done = client.get(OIDC_CALLBACK_PATH, params=dict(back.params))
        assert done.status_code == 200 and 'url=/ui/overview"' in done.text  # `next` off-site: the overview instead
        assert client.get("/admin/v1/session").json()["system_role"] == "admin"
    assert httpx.get(gateway.root + "/admin/v1/session/methods").json() == {"key": True, "oidc": True}
