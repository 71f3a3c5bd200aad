"""The Langfuse-compatible read API, for migrating applications that fetch prompts with the ``langfuse`` SDK:
``GET /api/public/v2/prompts/{name}?label=…|version=…`` answers a managed prompt's version as Langfuse's ``Prompt``
(``type: chat`` with its messages, or ``type: text`` for a version pushed with ``type: text``), so
``Langfuse(...).get_prompt(name, label=…)`` and ``get_prompt(name, version=…)`` work unchanged.

Authentication is Langfuse's: HTTP basic auth of a public and a secret key. Here the secret key is a Wardgate virtual
key and the public key is that key's id, so a pair maps to exactly one virtual key and its project; a prompt
resolves as in requests (the key's project's own prompt first, then the system-wide one of that name). Errors are in
Langfuse's shape, ``{"message", "error"}``: that is what the SDK reads.

Reading the raw template is not a call: no ledger row, no canary arm (a canary runs only where the gateway renders).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from wardgate.api.asgi import Receive, Scope, Send, send_json
from wardgate.core.errors import StoreUnavailable, WardgateError
from wardgate.core.outage import Outage
from wardgate.core.principal import Principal
from wardgate.prompts.artifacts import expand
from wardgate.prompts.reference import DEFAULT_LABEL, LABEL, NAME
from wardgate.store.availability import reaching_store
from wardgate.store.prompts import SYSTEM, LabelRow, PromptStore, VersionRow, read_spec

PREFIX = "/api/public/v2/prompts/"
LATEST = "latest"  # Langfuse's implicit label of a prompt's newest version
_MAX_AUTHORIZATION = 4096
Authenticate = Callable[[str], Awaitable[Principal]]


class LangfuseError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class LangfusePrompts:
    """One worker's ``/api/public/v2/prompts/{name}`` (assembled only when ``prompts:`` is configured)."""

    def __init__(self, store: PromptStore, authenticate: Authenticate, outage: Outage) -> None:
        self._store = store
        self._authenticate = authenticate
        self._outage = outage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] != "GET":
                raise LangfuseError(405, "MethodNotAllowedError", "This gateway serves prompts read-only (GET).")
            principal = await self._principal(scope)
            name = scope["path"][len(PREFIX) :]
            label, version = _query(scope)
            answer = await self._prompt(principal, name, label, version)
        except LangfuseError as exc:
            await send_json(send, exc.status, {"message": exc.message, "error": exc.error})
        except WardgateError as exc:  # the store is down (503), the key's lookup failed
            error = "ServiceUnavailableError" if isinstance(exc, StoreUnavailable) else type(exc).__name__
            await send_json(send, exc.status, {"message": exc.message, "error": error})
        else:
            await send_json(send, 200, answer)

    async def _principal(self, scope: Scope) -> Principal:
        header = _header(scope, b"authorization")
        if header is None or len(header) > _MAX_AUTHORIZATION or not header[:6].lower() == b"basic ":
            raise _unauthorized("Send HTTP basic auth: the public key (a virtual key's id) and the secret key.")
        try:
            public, sep, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("The basic auth credentials are not base64 of `public:secret`.") from None
        if not sep or not public or not secret:
            raise _unauthorized("The basic auth credentials are not base64 of `public:secret`.")
        try:
            principal = await self._authenticate(secret)
        except WardgateError as exc:
            if exc.status == 401:
                raise _unauthorized("Invalid credentials: the secret key is not a usable virtual key.") from None
            raise
        if principal.kind != "key" or not hmac.compare_digest(principal.id.encode(), public.encode()):
            raise _unauthorized("Invalid credentials: the public key is not the id of the secret key's virtual key.")
        return principal

    async def _prompt(self, principal: Principal, name: str, label: str | None, version: int | None) -> dict[str, Any]:
        missing = LangfuseError(404, "LangfuseNotFoundError", f"Prompt not found: '{name[:200]}'")
        if not NAME.fullmatch(name):
            raise missing
        owners = (principal.project, SYSTEM) if principal.project else (SYSTEM,)
        with reaching_store(self._outage):
            for owner in owners:
                labels = await self._store.labels(owner, name)
                row = await self._version(owner, name, labels, label, version)
                if row is not None:
                    newest = await self._newest(owner, name)
                    on = sorted(r.label for r in labels if r.version == row.id)
                    if newest == row.number and LATEST not in on:
                        on.append(LATEST)
                    try:
                        spec = await expand(row.spec, owner, partial(read_spec, self._store))
                    except (ValueError, LookupError):  # an artifact it names is gone: not served, as in requests
                        continue
                    return _as_langfuse(row, spec, on)
        raise missing

    async def _version(
        self, owner: str, name: str, labels: list[LabelRow], label: str | None, version: int | None
    ) -> VersionRow | None:
        if version is not None:
            return await self._store.version_by_number(owner, name, version)
        wanted = label or DEFAULT_LABEL
        for row in labels:
            if row.label == wanted:
                return await self._store.version(owner, name, row.version, missing_ok=True)
        if wanted == LATEST:
            number = await self._newest(owner, name)
            return await self._store.version_by_number(owner, name, number) if number else None
        return None

    async def _newest(self, owner: str, name: str) -> int:
        versions = await self._store.versions(owner, name)
        return max((v.number for v in versions), default=0)


def _as_langfuse(row: VersionRow, spec: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = dict(spec.get("params") or {})
    if spec.get("model") is not None:
        config["model"] = spec["model"]
    messages = spec["messages"]
    common = {
        "name": row.prompt,
        "version": row.number,
        "config": config,
        "labels": labels,
        "tags": [],
        "commitMessage": None,
        "resolutionGraph": None,
    }
    if spec.get("type") == "text":
        return {"type": "text", "prompt": messages[0]["content"], **common}
    return {"type": "chat", "prompt": [{"role": m["role"], "content": m["content"]} for m in messages], **common}


def _query(scope: Scope) -> tuple[str | None, int | None]:
    raw = scope.get("query_string", b"")
    if len(raw) > 2048:
        raise LangfuseError(400, "InvalidRequestError", "The query string is too long.")
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise LangfuseError(400, "InvalidRequestError", "The query string cannot be read.") from None
    label: str | None = None
    version: int | None = None
    for key, value in pairs:
        if key == "label":
            if not LABEL.fullmatch(value):
                raise LangfuseError(400, "InvalidRequestError", "label: letters, digits, `_`, `.`, `-` (at most 100).")
            label = value
        elif key == "version":
            if not (value.isascii() and value.isdigit() and 0 < len(value) < 10 and int(value) > 0):
                raise LangfuseError(400, "InvalidRequestError", "version: a positive version number.")
            version = int(value)
        elif key != "resolve":  # resolve: Langfuse's prompt dependencies; Wardgate versions have none to resolve
            raise LangfuseError(400, "InvalidRequestError", f"Unknown query parameter {key[:50]!r}.")
    if label is not None and version is not None:
        raise LangfuseError(400, "InvalidRequestError", "Give a label or a version, not both.")
    return label, version


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _unauthorized(message: str) -> LangfuseError:
    return LangfuseError(401, "UnauthorizedError", message)
