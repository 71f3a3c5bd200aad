"""Vertex AI credentials, through google-auth (``wardgate[vertex]``): a service-account key file, or Application
Default Credentials when no file is configured (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's user credentials, the
metadata server of Compute Engine, Cloud Run or GKE Workload Identity).

Credentials are found once, when the adapter is built. google-auth signs the service account's JWT and trades it for
an access token (or asks the metadata server for one); its refresh is blocking I/O, so it runs in a worker thread,
never on the event loop. The token is cached until five minutes before it expires; concurrent requests that find it
stale share one refresh (the first caller starts it, the others await the same task, and a caller that goes away does
not cancel it for the rest). This module imports google-auth: only ``build_vertex`` imports it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import google.auth
import orjson
from google.auth.credentials import Credentials
from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from wardgate.core.deployment import Timeouts
from wardgate.core.errors import UpstreamError, UpstreamUnavailable
from wardgate.providers.http import scrub

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
_LIFETIME_S = 3600.0  # assumed when credentials do not say when their token expires
_MARGIN_S = 300.0
log = logging.getLogger("wardgate")


def load_credentials(path: str | Path | None) -> Credentials:
    """The key file's service account with the cloud-platform scope, or with no file the Application Default
    Credentials. Errors name the file and the problem, never the file's content."""
    if path is None:
        try:
            credentials, _ = google.auth.default(scopes=[SCOPE])
        except DefaultCredentialsError:
            raise ValueError(
                "type vertex without credentials_file uses Application Default Credentials, and none were found: set "
                "credentials_file, or GOOGLE_APPLICATION_CREDENTIALS, or run on Google Cloud with a service account "
                "(GKE: Workload Identity)"
            ) from None
        return credentials
    info = _key_file(path)
    try:  # the key is parsed here, so that a broken one stops the start rather than the first request
        account: Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[SCOPE]
        )
    except (ValueError, TypeError, IndexError):
        raise ValueError(f"credentials_file {path}: private_key is not a PEM RSA private key") from None
    return account


def _key_file(path: str | Path) -> dict[str, Any]:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ValueError(f"credentials_file {path}: cannot read it ({exc.strerror})") from None
    except orjson.JSONDecodeError:
        raise ValueError(f"credentials_file {path}: not JSON (expected a service-account key file)") from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise ValueError(f'credentials_file {path}: not a service-account key (its "type" must be service_account)')
    missing = [key for key in ("client_email", "private_key") if not data.get(key)]
    if missing:
        raise ValueError(f"credentials_file {path}: missing {', '.join(missing)}")
    data.setdefault("token_uri", DEFAULT_TOKEN_URI)
    return data


class AccessTokens:
    """The access token of one set of credentials, cached and refreshed single-flight in a worker thread."""

    def __init__(
        self,
        credentials: Credentials,
        provider: str,
        timeouts: Timeouts,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.provider = provider
        # one pooled session for the token endpoint; only one refresh runs at a time, so it is never shared by threads
        self._request = functools.partial(Request(), timeout=(timeouts.connect, timeouts.total))
        self._clock = clock
        self._token: str | None = None
        self._fresh_until = 0.0
        self._inflight: asyncio.Future[str] | None = None

    @property
    def current(self) -> str | None:
        """The cached token, for scrubbing it out of error messages."""
        return self._token

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._fresh_until:
            return self._token
        task = self._inflight
        if task is None:
            task = asyncio.ensure_future(self._refresh())
            self._inflight = task
            task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Future[str]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a refresh nobody waits for any more does not warn

    async def _refresh(self) -> str:
        requested = self._clock()
        credentials = self.credentials
        try:
            await asyncio.to_thread(credentials.refresh, self._request)
        except RefreshError as exc:
            reason = scrub(str(exc.args[0] if exc.args else exc)[:300], (self._token or "",))
            log.warning("%s: the token endpoint refused the gateway's Google credentials: %s", self.provider, reason)
            raise UpstreamError(
                f"{self.provider}: could not obtain an access token for the gateway's Google credentials ({reason}); "
                "an operator must check this provider's credentials.",
                code="upstream_auth_error",
            ) from None
        except TransportError as exc:
            raise UpstreamUnavailable(
                f"{self.provider}: could not reach the token endpoint ({type(exc.__cause__ or exc).__name__})."
            ) from None
        token = credentials.token
        if not isinstance(token, str) or not token:
            raise UpstreamError(f"{self.provider}: the token endpoint answered without an access token.")
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        lifetime = expiry.replace(tzinfo=UTC).timestamp() - time.time() if expiry is not None else _LIFETIME_S
        self._token = token
        self._fresh_until = requested + lifetime - min(_MARGIN_S, lifetime / 2)
        return token
