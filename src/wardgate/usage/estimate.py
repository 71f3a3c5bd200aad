"""Usage when the provider reports none: a stream cut short (the client left, the upstream failed mid-way), or a
provider that counts nothing. Prompt tokens are counted with the shipped tokenizer (decision 002); output tokens
are the content chunks relayed, one token each (providers stream about one token a chunk), less the role and finish
chunks. The ledger row says the numbers are the gateway's (``usage_estimated``)."""

from __future__ import annotations

from typing import Any

from wardgate.core.call import Call
from wardgate.core.usage import Usage
from wardgate.usage import tokens

_FRAMING_CHUNKS = 2  # the role chunk and the finish chunk carry no output


async def ensure_usage(call: Call) -> None:
    """Fill ``call.usage`` with an estimate when a provider was called and reported nothing. Idempotent. The
    tokenizer, when it is not in yet, is read in a thread (``tokens.ready``)."""
    if call.usage is not None or call.deployment is None:
        return
    if not call.stream or call.streamed_chunks == 0:
        return  # nothing was generated for the client: nothing to charge
    try:
        await tokens.ready(_model(call))
        prompt = _prompt_tokens(call)
    except tokens.EncodingUnavailable:
        prompt = 0
    call.usage = Usage(input_tokens=prompt, output_tokens=max(0, call.streamed_chunks - _FRAMING_CHUNKS))
    call.usage_estimated = True


def _model(call: Call) -> str:
    return call.deployment.upstream_model if call.deployment is not None else call.model


def _prompt_tokens(call: Call) -> int:
    body = call.body
    model = _model(call)
    if call.operation == "chat":
        return tokens.count_chat(body.get("messages") or [], model)
    return _count(body.get("prompt"), model)


def _count(value: Any, model: str) -> int:
    if isinstance(value, str):
        return tokens.count_text(value, model)
    if isinstance(value, list):
        return sum(_count(v, model) for v in value)
    return 0
