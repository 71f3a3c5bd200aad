"""Cache keys: pure functions of the request, the tenant scope, the route and the invalidation generations.

Invariant: two requests share a key only if the same route would give them the same answer and they belong to the
same tenant scope. Everything in the body is part of the key except the fields listed in ``IGNORED_FIELDS``, which
change how the answer is delivered or logged, never what it says: a field we do not know is kept, so an unknown
answer-changing parameter can only cost a miss, never serve a wrong answer. The generations (all, project, model,
template) and the route's config fingerprint are part of the key, so bumping one, or redeploying the route, makes
every older entry unreachable at once, on every replica.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from wardgate.core.principal import Principal

KEY_VERSION = 1
CacheScope = Literal["project", "team", "user", "key", "end_user"]
IGNORED_FIELDS = frozenset(
    {
        "stream",  # a stored answer is replayed either way
        "stream_options",
        "user",  # end-user id for abuse tracking
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _digest(parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def fingerprint(config: Any) -> str:
    """A short, stable hash of a route's config (JSON-able): a redeploy that changes it changes every key."""
    return _digest(config)[:16]


def tenant_of(principal: Principal, scope: CacheScope, end_user: str | None = None) -> str:
    """Who may share an entry. Always within one project; narrower scopes add the team, user or key.

    A principal without the attribute the scope asks for (a key with no team) falls back to the principal itself,
    the narrowest scope there is, so a missing attribute can never widen sharing. ``end_user`` (the request's
    client-asserted ``user``) narrows the key's scope further, hashed so a long or odd id stays out of keys; calls
    that send none share the key's own scope.
    """
    own = f"k:{principal.kind}:{principal.id}"
    base = f"p:{principal.project}" if principal.project else own
    if scope == "end_user":
        key_scope = own if base == own else f"{base}/{own}"
        return f"{key_scope}/e:{_digest(end_user)[:32]}" if end_user else key_scope
    if scope == "project" or base == own:
        return base
    if scope == "team":
        return f"{base}/t:{principal.team}" if principal.team else f"{base}/{own}"
    if scope == "user":
        return f"{base}/u:{principal.user}" if principal.user else f"{base}/{own}"
    return f"{base}/{own}"


def deterministic(operation: str, body: Mapping[str, Any]) -> bool:
    """Whether the same request should get the same answer.

    Embeddings always do. A chat or completion with ``temperature > 0`` asks for variety, and so does ``n > 1``
    unless ``temperature`` is 0. An unset temperature with one choice counts as deterministic: the client did not
    ask for sampling, and treating it otherwise would leave almost nothing cacheable.
    """
    if operation == "embeddings":
        return True
    temperature = body.get("temperature")
    n = body.get("n")
    hot = isinstance(temperature, int | float) and temperature > 0
    if hot:
        return False
    return not (isinstance(n, int) and n > 1 and temperature != 0)


def exact_key(
    operation: str,
    body: Mapping[str, Any],
    tenant: str,
    route: str,
    generations: Sequence[int],
    template: str | None = None,
) -> str:
    """The exact-match key (hex SHA-256). ``body`` is the canonical request, model included."""
    payload = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    return _digest([KEY_VERSION, operation, tenant, route, template, list(generations), payload])


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                return None  # images, audio, files: never matched by similarity
            texts.append(part["text"])
        return " ".join(texts)
    return None


def semantic_parts(operation: str, body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the text to embed, a guard hash) for a request the semantic cache may answer, else None.

    Only the last user message (chat) or the prompt (completions) is compared by meaning. Everything else must be
    equal for two requests to match: the model, tools, system prompt, earlier turns, every parameter, and the numbers
    in the text itself ("what is 2+2" and "what is 2+3" embed almost alike but must never share an answer).
    """
    rest = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    if operation == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return None
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "user":
            return None
        text = _text(last.get("content"))
        rest["messages"] = messages[:-1]
        rest["last"] = {k: v for k, v in last.items() if k != "content"}
    elif operation == "completions":
        prompt = body.get("prompt")
        text = prompt if isinstance(prompt, str) else None
        rest.pop("prompt", None)
    else:
        return None
    if text is None or not text.strip():
        return None
    rest["numbers"] = _NUMBER.findall(text)
    return text, _digest(rest)


def semantic_bucket(guard: str, tenant: str, route: str, generations: Sequence[int], template: str | None) -> str:
    """Where similar requests are searched: one bucket per guard, tenant, route and generation."""
    return _digest([KEY_VERSION, "semantic", guard, tenant, route, template, list(generations)])[:32]
