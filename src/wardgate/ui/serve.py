"""Serving /ui: the single page for every deep link, the hashed-free assets, and the redirect to sign-in.

The assets are read once, when the first /ui request arrives, and kept in memory (about 100 KB); the data plane
never reaches this module. A page asked for without a session cookie that opens goes to
``/ui/signin?next=<page>``; whether the session's key still works is the admin API's business (the page then
signs out on its first 401).
"""

from __future__ import annotations

import time
from importlib import resources
from urllib.parse import quote

from wardgate.api.admin.session_codec import SessionCodec, cookie_of
from wardgate.api.asgi import Receive, Scope, Send

PAGES = frozenset(
    {"overview", "usage", "projects", "users", "keys", "budgets", "models", "cache", "audit", "chargeback"}
    | {"guards", "prompts", "mcp", "alerts", "config", "providers"}  # every other governed object of the admin API
)
_TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".html": b"text/html; charset=utf-8",
}
_SECURITY = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def load_assets() -> dict[str, bytes]:
    folder = resources.files("wardgate.ui") / "static"
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.is_file()}


class Console:
    def __init__(self, codec: SessionCodec | None, assets: dict[str, bytes] | None = None) -> None:
        self.codec = codec
        self.assets = load_assets() if assets is None else assets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed", [(b"allow", b"GET, HEAD")])
            return
        rest = path[len("/ui") :].strip("/")
        if rest.startswith("assets/"):
            await self._asset(send, rest[len("assets/") :])
            return
        page = rest.split("/", 1)[0]
        if page == "":
            await _redirect(send, "/ui/overview")
        elif page == "signin":
            await self._page(send)
        elif page in PAGES:
            if self._signed_in(scope):
                await self._page(send)
            else:
                query = scope.get("query_string", b"").decode("latin-1")
                target = path + ("?" + query if query else "")
                await _redirect(send, "/ui/signin?next=" + quote(target, safe=""))
        else:
            await _plain(send, 404, b"no such page", [])

    def _signed_in(self, scope: Scope) -> bool:
        if self.codec is None:
            return False
        cookie = None
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie = cookie_of(value.decode("latin-1"))
                if cookie is not None:
                    break
        return cookie is not None and self.codec.open(cookie, time.time()) is not None

    async def _page(self, send: Send) -> None:
        body = self.assets["index.html"]
        headers = [(b"content-type", _TYPES[".html"]), (b"cache-control", b"no-store"), *_SECURITY]
        await _send(send, 200, body, headers)

    async def _asset(self, send: Send, name: str) -> None:
        body = self.assets.get(name) if name != "index.html" else None
        suffix = name[name.rfind(".") :] if "." in name else ""
        if body is None or suffix not in _TYPES:
            await _plain(send, 404, b"no such asset", [])
            return
        headers = [(b"content-type", _TYPES[suffix]), (b"cache-control", b"no-cache"), *_SECURITY]
        await _send(send, 200, body, headers)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await _send(send, status, body, [(b"content-type", b"text/plain; charset=utf-8"), *headers])


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode()), (b"cache-control", b"no-store")]
    await _send(send, 303, b"", headers)
