"""Realtime client secrets minted at an OpenAI-wire provider: ``POST /realtime/client_secrets`` and
``/realtime/translations/client_secrets``.

A client secret (``ek_…``) lets a browser or phone open a Realtime session with the provider directly, without the
gateway's key. Minting one is a call like any other (identity, model access, budgets and rate limits before it, a
ledger row and audit after it); the session's public model is the one it names (``session.model``, else OpenAI's
default), and the provider receives the deployment's model in its place. The provider's answer, the secret
included, reaches the client as the bytes it sent and is never logged or stored: the ledger row keeps only when the
secret expires and the session's model.

The minting itself costs nothing (zero tokens). What a session opened with the secret then spends is billed by the
provider to the gateway's account and never crosses the gateway, so it cannot be metered here (docs/realtime.md);
sessions that must be metered and capped go through ``/v1/realtime`` over WebSocket instead.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.core.call import Call, Result
from wardgate.core.usage import Usage
from wardgate.providers.http import ErrorOf, UpstreamHTTP

PATHS = {
    "realtime_secret": "/realtime/client_secrets",
    "translate_secret": "/realtime/translations/client_secrets",
}
OPERATIONS = frozenset(PATHS)


def wire_body(call: Call) -> dict[str, Any]:
    """The request with the deployment's model in ``session.model``. A realtime session that names no model gets
    it (the gateway routed on OpenAI's default name); a transcription session has no such field and is left as it
    is."""
    assert call.deployment is not None
    body = dict(call.body)
    session = body.get("session")
    session = dict(session) if isinstance(session, dict) else {}
    if "model" in session or call.operation == "translate_secret" or session.get("type", "realtime") == "realtime":
        if "type" not in session and call.operation == "realtime_secret":
            session["type"] = "realtime"
        session["model"] = call.deployment.upstream_model
    if session:
        body["session"] = session
    return body


async def mint(
    call: Call, http: UpstreamHTTP, provider: str, base_url: str, headers: dict[str, str], error_of: ErrorOf
) -> Result:
    url = base_url + PATHS[call.operation]
    raw, answer = await http.exchange(call, provider, url, orjson.dumps(wire_body(call)), headers, error_of)
    call.usage = Usage()
    details: dict[str, Any] = {"session_model": call.deployment.upstream_model if call.deployment else call.model}
    if isinstance(answer, dict) and isinstance(answer.get("expires_at"), int):
        details["expires_at"] = answer["expires_at"]
    call.ledger_details = {"client_secret": details}
    return Result(raw=raw, _body=answer)
