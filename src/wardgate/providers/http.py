"""The upstream HTTP transport: one pooled aiohttp session per worker, and the one place transport errors become
WardgateErrors."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from time import perf_counter
from typing import Any

import aiohttp
import orjson
import yarl

from wardgate.core.call import Call
from wardgate.core.deployment import Timeouts
from wardgate.core.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    WardgateError,
)

ErrorOf = Callable[[aiohttp.ClientResponse, bytes], WardgateError]
# The headers of one request from (its URL as sent, its body, the adapter's headers): the hook for authentication that
# depends on the request or on time (SigV4 signs URL and body; an OAuth access token is refreshed before it expires).
Sign = Callable[[str | yarl.URL, bytes, Mapping[str, str]], Awaitable[Mapping[str, str]]]
_KEYISH = re.compile(r"\b(sk|pk|rk|key|gsk|xai|AIza)[-_][A-Za-z0-9*_\-]{6,}|AIza[A-Za-z0-9_\-]{20,}")
# headers of an upstream error answer that a client may act on
_KEPT_ERROR_HEADERS = ("retry-after", "retry-after-ms")


def new_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60, enable_cleanup_closed=False)
    return aiohttp.ClientSession(
        connector=connector,
        json_serialize=lambda obj: orjson.dumps(obj).decode(),
        skip_auto_headers=("User-Agent",),
        auto_decompress=True,
    )


class UpstreamHTTP:
    """Thin wrapper over the worker's aiohttp session: timeouts per deployment, errors translated."""

    __slots__ = ("_timeouts", "session")

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}

    def timeout(self, t: Timeouts) -> aiohttp.ClientTimeout:
        found = self._timeouts.get(t)
        if found is None:
            found = aiohttp.ClientTimeout(total=t.total, sock_connect=t.connect, sock_read=t.first_byte)
            self._timeouts[t] = found
        return found

    async def fetch(
        self, call: Call, provider: str, url: str | yarl.URL, data: bytes, headers: Mapping[str, str], sign: Sign | None
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """POST and read the whole answer, whatever its status: (the response, released, and its bytes)."""
        assert call.deployment is not None
        if sign is not None:
            headers = await sign(url, data, headers)
        if call.upstream_traceparent is not None:  # after signing: the signature never depends on the trace
            headers = {**headers, "traceparent": call.upstream_traceparent}
        with upstream_errors(provider):
            response = await self.session.post(
                url, data=data, headers=headers, timeout=self.timeout(call.deployment.timeouts)
            )
            try:
                raw = await response.read()
            finally:
                response.release()
        return response, raw

    async def exchange(
        self,
        call: Call,
        provider: str,
        url: str | yarl.URL,
        data: bytes,
        headers: Mapping[str, str],
        error_of: ErrorOf,
        sign: Sign | None = None,
    ) -> tuple[bytes, Any]:
        """POST and read the whole answer: (its bytes, its JSON). The wait is the call's upstream time; an answer
        other than 200 becomes ``error_of(response, body)``; a body that is not JSON is an upstream error."""
        started = perf_counter()
        response, raw = await self.fetch(call, provider, url, data, headers, sign)
        call.upstream_s = perf_counter() - started
        if response.status != 200:
            raise error_of(response, raw)
        try:
            return raw, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{provider}: the provider answered with invalid JSON.") from exc

    async def open(
        self,
        call: Call,
        provider: str,
        url: str | yarl.URL,
        data: bytes,
        headers: Mapping[str, str],
        error_of: ErrorOf,
        sign: Sign | None = None,
    ) -> aiohttp.ClientResponse:
        """POST a streamed request and return the response once the provider accepted it (its headers are in);
        a refusal is read whole and raised as ``error_of(response, body)`` before any chunk reaches the client.
        The body is read with ``providers.streaming.read_stream``."""
        assert call.deployment is not None
        started = perf_counter()
        if sign is not None:
            headers = await sign(url, data, headers)
        if call.upstream_traceparent is not None:  # after signing: the signature never depends on the trace
            headers = {**headers, "traceparent": call.upstream_traceparent}
        with upstream_errors(provider):
            response = await self.session.post(
                url, data=data, headers=headers, timeout=self.timeout(call.deployment.timeouts)
            )
        call.upstream_s = perf_counter() - started
        if response.status != 200:
            try:
                with upstream_errors(provider):
                    raw = await response.read()
            finally:
                response.release()
            raise error_of(response, raw)
        return response


@contextmanager
def upstream_errors(provider: str) -> Iterator[None]:
    """Translate aiohttp and timeout errors (also raised while a stream is being read) into WardgateErrors."""
    try:
        yield
    except WardgateError:
        raise
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout(f"{provider}: the provider did not answer in time.") from exc
    except aiohttp.ClientPayloadError as exc:
        raise UpstreamUnavailable(f"{provider}: the provider's answer was cut off.") from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise UpstreamUnavailable(f"{provider}: the provider closed the connection.") from exc
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamUnavailable(f"{provider}: could not connect to the provider ({exc.strerror}).") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"{provider}: transport error ({type(exc).__name__}).") from exc


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove credentials from a message a provider wrote (some echo a masked key back)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _KEYISH.sub("***", text)


def upstream_message(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, param, code) from a provider's error body, whatever its shape."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:500].decode("utf-8", "replace").strip(), None, None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    if not isinstance(parsed, dict):
        return str(parsed)[:500], None, None
    err = parsed.get("error", parsed)
    if isinstance(err, str):
        return err, None, None
    if not isinstance(err, dict):
        return str(err)[:500], None, None
    message = err.get("message") or parsed.get("message") or parsed.get("detail") or orjson.dumps(err).decode()
    param = err.get("param")
    code = err.get("code") if isinstance(err.get("code"), str) else None
    return str(message), param if isinstance(param, str) else None, code


def error_from_status(
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
    secrets: tuple[str, ...] = (),
) -> WardgateError:
    """The one status mapping for provider errors. The provider's message is kept (scrubbed of credentials) except
    for authentication failures, which are the operator's problem, not the client's: 502, no detail."""
    kept = {h: headers[h] for h in _KEPT_ERROR_HEADERS if headers and h in headers}
    text = f"{provider}: {scrub(message, secrets)}"
    if status in (401, 403):
        return UpstreamError(
            f"{provider}: the provider rejected the gateway's credentials (HTTP {status}); an operator must check this"
            " provider's api_key.",
            code="upstream_auth_error",
        )
    if status == 429:
        return UpstreamRateLimited(text, headers=kept, code=code or "rate_limit_exceeded")
    if status == 404:
        return NotFound(text, param=param, code=code or "not_found")
    if status == 413:
        return PayloadTooLarge(text)
    if status in (408, 504):
        return UpstreamTimeout(text, headers=kept)
    if status == 424:  # AWS: the model failed, not the request
        return UpstreamError(text, headers=kept)
    if 400 <= status < 500:
        return InvalidRequest(text, param=param, code=code, status=400 if status == 422 else status)
    if status in (502, 503):
        return UpstreamError(text, headers=kept, status=status)
    if status == 529:  # "overloaded"
        return UpstreamError(text, headers=kept, status=503, code="upstream_overloaded")
    return UpstreamError(text, headers=kept)
