"""The request log (``telemetry.access_log: json | text``): one line per AI request on the ``wardgate.requests``
logger, written when the call ends (a stream: when it ends, is cut or the client leaves).

Fields: request id, trace and span id, principal (kind, key id, project, team, user), model asked for, deployment,
provider, status, error type, tokens by kind, cost (USD, from the same nano-dollars as the ledger row), cache outcome,
route attempts, latency and TTFT. Never a prompt, an answer, a credential or a header. A client's values (model, its
request id) are cut to ``MAX_FIELD`` characters; ``text`` quotes any value that is not plain, so a line stays one
bounded line.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Literal

import orjson
from opentelemetry.trace import SpanContext

from wardgate.core.call import Call

LOGGER = "wardgate.requests"
MAX_FIELD = 200
_PLAIN = re.compile(r"[!#-~]*")


def request_logger() -> logging.Logger:
    """Its own handler (message only: a json line stays valid JSON) on stderr, set up once per process."""
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _cut(value: str | None) -> str | None:
    return value[:MAX_FIELD] if value is not None else None


class RequestLog:
    def __init__(self, form: Literal["json", "text"], logger: logging.Logger | None = None) -> None:
        self.form = form
        self.logger = logger if logger is not None else request_logger()

    def fields(
        self, call: Call, status: int, error_type: str | None, cost: int | None, now: float, span: SpanContext | None
    ) -> dict[str, Any]:
        principal = call.principal
        deployment = call.deployment
        usage = call.usage
        out: dict[str, Any] = {
            "request_id": call.id,
            "client_request_id": _cut(call.client_request_id),
            "trace_id": f"{span.trace_id:032x}" if span is not None else None,
            "span_id": f"{span.span_id:016x}" if span is not None else None,
            "principal": principal.kind if principal is not None else None,
            "key_id": principal.id if principal is not None and principal.kind == "key" else None,
            "project": principal.project if principal is not None else None,
            "team": principal.team if principal is not None else None,
            "user": principal.user if principal is not None else None,
            "surface": call.surface,
            "operation": call.operation,
            "model": _cut(call.model),
            "deployment": deployment.name if deployment is not None else None,
            "provider": deployment.provider if deployment is not None else None,
            "stream": call.stream,
            "status": status,
            "error_type": error_type,
            "input_tokens": usage.input_tokens if usage is not None else None,
            "output_tokens": usage.output_tokens if usage is not None else None,
            "cached_tokens": usage.cached_tokens if usage is not None else None,
            "reasoning_tokens": usage.reasoning_tokens if usage is not None else None,
            "cost_usd": cost / 1e9 if cost is not None else None,
            "cost_nanousd": cost,
            "cache": call.cache_status,
            "attempts": call.route.attempts if call.route is not None else None,
            "latency_ms": round((now - call.started) * 1000, 3),
            "ttft_ms": round((call.first_token_at - call.started) * 1000, 3) if call.first_token_at else None,
        }
        return out

    def write(
        self, call: Call, status: int, error_type: str | None, cost: int | None, now: float, span: SpanContext | None
    ) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        fields = self.fields(call, status, error_type, cost, now, span)
        if self.form == "json":
            self.logger.info(orjson.dumps(fields).decode())
        else:
            self.logger.info(" ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return text if _PLAIN.fullmatch(text) else orjson.dumps(text).decode()
