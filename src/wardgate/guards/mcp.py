"""The guards on MCP calls (``surface == "mcp"``): the text guards of the LLM path, pointed at a tool call.

- Arguments (the request): secrets, pii and regex guards with ``on: request | both`` check every string in the
  arguments, redacting in place or blocking, as they check a prompt. Injection guards do not look at arguments.
- Results (the answer): an injection guard (``on: request``, "prompts, tool results, documents") checks the text
  of a tool result, since that text is bound for a model's prompt; guards with ``on: response | both`` check it too,
  redacting in place or blocking.
Size, cost and tools guards are about LLM requests and do not apply. A block is a refusal the MCP surface turns
into a JSON-RPC error; the decisions go to the audit trail as for LLM calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from wardgate.core.call import Call, Result
from wardgate.guards.engine import Guard
from wardgate.guards.scan import Hit, Scanner, redact

TEXT_GUARDS = frozenset({"secrets", "pii", "regex", "injection"})
MAX_DEPTH = 32
MAX_STRINGS = 10_000


def applicable(guards: Sequence[Guard]) -> tuple[list[Guard], list[Guard]]:
    """(argument guards, result guards) among the guards that apply to an MCP call."""
    texts = [g for g in guards if g.config.type in TEXT_GUARDS and g.config.action != "pseudonymize"]
    arguments = [g for g in texts if g.config.type != "injection" and g.config.on != "response"]
    results = [g for g in texts if g.config.type == "injection" or g.config.on != "request"]
    return arguments, results


def argument_slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every string in the arguments, depth-first; bounded in depth and count."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            continue
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, item in items:
            if isinstance(item, str):
                seen += 1
                if seen > MAX_STRINGS:
                    return
                yield node, key
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))


def result_slots(body: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    content = body.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                yield block, "text"
            resource = block.get("resource") if isinstance(block, dict) else None
            if isinstance(resource, dict) and isinstance(resource.get("text"), str):
                yield resource, "text"


def check(scanner: Scanner, slots: Iterator[tuple[Any, Any]], on_hits: Any) -> bool:
    """Scans each slot, reports its hits (``on_hits`` may raise GuardBlocked) and redacts in place; True when
    something changed."""
    changed = False
    for holder, key in slots:
        text = holder[key]
        if not text:
            continue
        hits: list[Hit] = scanner.hits(text)
        if hits:
            on_hits(hits, text)
            out = redact(text, hits)
            if out != text:
                holder[key] = out
                changed = True
    return changed


def check_result(call: Call, result: Result, scanner: Scanner, on_hits: Any) -> None:
    if result.status < 400 and check(scanner, result_slots(result.body), on_hits):
        result.raw = None
