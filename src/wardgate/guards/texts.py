"""The texts of a request body a guard looks at, each with where it lives (so a redaction can be written back)."""

from __future__ import annotations

from typing import Any

# roles whose text may carry an indirect injection (the client's own, tool results, retrieved documents); the
# operator's system and developer prompts, and the assistant's earlier turns, are not looked at for injection
UNTRUSTED_ROLES = frozenset({"user", "tool", "function"})

Slot = tuple[str, Any, Any]  # (role, container, key): container[key] is the text


def request_texts(operation: str, body: dict[str, Any]) -> list[Slot]:
    out: list[Slot] = []
    if operation == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list):
            return out
        for message in messages:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            role = role if isinstance(role, str) else "user"
            content = message.get("content")
            if isinstance(content, str):
                out.append((role, message, "content"))
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        out.append((role, part, "text"))
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                for call in calls:
                    function = call.get("function") if isinstance(call, dict) else None
                    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                        out.append((role, function, "arguments"))
        return out
    key = "prompt" if operation == "completions" else "input"
    value = body.get(key)
    if isinstance(value, str):
        out.append(("user", body, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(("user", value, i))
    return out


def message_count(operation: str, body: dict[str, Any]) -> int:
    messages = body.get("messages") if operation == "chat" else None
    return len(messages) if isinstance(messages, list) else 1
