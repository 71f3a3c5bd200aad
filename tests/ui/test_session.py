"""The console's session through the admin API (POST/GET/DELETE /admin/v1/session) and the /ui pages' serving,
without a browser: cookie attributes, CSRF on every change, tampering, redirects to sign-in, and the assets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.admin.support import admin, create_project, create_user, grant, user_key
from tests.support import MASTER_KEY, RunningGateway
from wardgate.api.admin.session_codec import COOKIE, SessionCodec, is_loopback
from wardgate.ui.serve import PAGES

STATIC = Path(__file__).resolve().parents[2] / "src" / "wardgate" / "ui" / "static"


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    made: list[httpx.Client] = []
    yield made
    for client in made:
        client.close()


def sign_in(
    gateway: RunningGateway, key: str, made: list[httpx.Client], host: str | None = None
) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=gateway.root, timeout=10)
    made.append(client)
    headers = {"host": host} if host else {}
    return client, client.post("/admin/v1/session", json={"key": key}, headers=headers)


def test_sign_in_sets_an_httponly_strict_cookie_and_changes_need_the_csrf_token(
    gateway: RunningGateway, clients: list[httpx.Client]
) -> None:
    client, signed = sign_in(gateway, MASTER_KEY, clients)
    assert signed.status_code == 201
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # loopback: plain HTTP must work
    assert MASTER_KEY not in cookie  # sealed, not merely encoded
    me = signed.json()
    assert (me["actor"], me["system_role"], me["via"]) == ("master", "admin", "cookie")
    token = me["csrf_token"]
    assert client.get("/admin/v1/session").json()["csrf_token"] == token

    assert client.get("/admin/v1/projects").status_code == 200  # reads need no token
    refused = client.post("/admin/v1/projects", json={"name": "csrf-less"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    tampered = token[:-1] + ("B" if token.endswith("A") else "A")  # always a different token
    wrong = client.post("/admin/v1/projects", json={"name": "csrf-wrong"}, headers={"x-csrf-token": tampered})
    assert wrong.status_code == 403
    made = client.post("/admin/v1/projects", json={"name": "csrf-ok"}, headers={"x-csrf-token": token})
    assert made.status_code == 201
    assert client.delete("/admin/v1/session").status_code == 403  # signing out is a change too
    out = client.delete("/admin/v1/session", headers={"x-csrf-token": token})
    assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
    assert client.get("/admin/v1/session").status_code == 401


def test_the_cookie_is_secure_outside_loopback() -> None:
    assert is_loopback("127.0.0.1:8080") and is_loopback("localhost") and is_loopback("[::1]:80")
    assert not is_loopback("gateway.example.com") and not is_loopback("10.0.0.1:443")


def test_a_session_cookie_posted_from_another_host_header_is_secure(
    gateway: RunningGateway, clients: list[httpx.Client]
) -> None:
    _, signed = sign_in(gateway, MASTER_KEY, clients, host="console.example.com")
    assert signed.status_code == 201 and "; Secure" in signed.headers["set-cookie"]


def test_a_wrong_key_names_the_key_field_and_a_forged_cookie_is_no_session(
    gateway: RunningGateway, clients: list[httpx.Client]
) -> None:
    client, refused = sign_in(gateway, "sk-wg-not-a-key", clients)
    assert refused.status_code == 401 and refused.json()["error"]["param"] == "key"
    empty = client.post("/admin/v1/session", json={"key": ""})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "key"
    other = SessionCodec(b"x" * 32, 3600).seal(MASTER_KEY, 0)[0]  # sealed under another secret
    for value in ("garbage", other, "A" * 5000):
        forged = httpx.get(gateway.root + "/admin/v1/session", cookies={COOKIE: value})
        assert forged.status_code == 401
        page = httpx.get(gateway.root + "/ui/keys", cookies={COOKIE: value})
        assert page.status_code == 303


def test_a_session_expires() -> None:
    codec = SessionCodec(b"s" * 32, 60)
    value, session = codec.seal("sk-x", 1000.0)
    assert codec.open(value, 1059.0) == session
    assert codec.open(value, 1060.0) is None


def test_a_revoked_user_key_ends_its_session_at_once(gateway: RunningGateway, clients: list[httpx.Client]) -> None:
    with admin(gateway) as master:
        project = create_project(master)
        user = create_user(master)
        grant(master, user["id"], "project", project["id"], "viewer")
        key = user_key(master, project["id"], user["id"])
        client, signed = sign_in(gateway, key, clients)
        assert signed.status_code == 201 and signed.json()["project_roles"] == {project["id"]: "viewer"}
        key_id = master.get(f"/admin/v1/keys?project={project['id']}").json()["data"][0]["id"]
        assert master.post(f"/admin/v1/keys/{key_id}/revoke").status_code == 200
    assert client.get("/admin/v1/session").status_code == 401


def test_every_page_without_a_session_goes_to_sign_in_and_back(
    gateway: RunningGateway, clients: list[httpx.Client]
) -> None:
    for page in sorted(PAGES):
        answer = httpx.get(f"{gateway.root}/ui/{page}?month=2026-01")
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/ui/signin?next=%2Fui%2F{page}%3Fmonth%3D2026-01"
    client, _ = sign_in(gateway, MASTER_KEY, clients)
    page = client.get("/ui/keys")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(gateway.root + "/ui").headers["location"] == "/ui/overview"
    assert httpx.get(gateway.root + "/ui/signin").status_code == 200
    assert httpx.get(gateway.root + "/ui/nothing").status_code == 404
    assert httpx.post(gateway.root + "/ui/keys").status_code == 405


def test_the_assets_are_served_from_the_package_and_nothing_else(
    gateway: RunningGateway, clients: list[httpx.Client]
) -> None:
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        answer = httpx.get(f"{gateway.root}/ui/assets/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
        assert answer.content == (STATIC / name).read_bytes()
    for bad in ("../serve.py", "..%2fserve.py", "index.html", "nope.js", "%2e%2e/__init__.py"):
        assert httpx.get(f"{gateway.root}/ui/assets/{bad}").status_code == 404


def test_the_assets_stay_small_and_need_no_network() -> None:
    files = list(STATIC.iterdir())
    assert sum(f.stat().st_size for f in files) < 2_000_000
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, f.name
