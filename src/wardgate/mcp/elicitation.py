"""What the gateway answers an upstream's ``elicitation/create``: the gateway holds the upstream session for every
caller at once, so it has no person to ask. The server's ``elicitation`` policy decides (docs/mcp.md):

- ``refuse``: the capability is not declared, and a request gets a JSON-RPC error;
- ``decline``: ``{"action": "decline"}``, as a person who declined would answer;
- ``defaults``: a form whose every required field has a schema default is accepted with the defaults of the fields
  that have one (SEP-1034: the values the server itself proposes); any other form, and every URL-mode request, is
  declined. No value is ever made up.

One function for both the SDK's session (its elicitation callback) and the direct tools/call lane (which sees the
request as JSON on the call's stream).
"""

from __future__ import annotations

from typing import Any

NOT_ANSWERED = -32601  # the JSON-RPC error of a refused request (method not found: the capability is not declared)
MAX_FIELDS = 100  # a form with more fields is declined (an upstream's schema is not trusted to be small)
MAX_DEFAULT_CHARS = 10_000  # a string default longer than this is not echoed back

# the primitive types a form field may have (the MCP spec's restricted JSON Schema) and the defaults each accepts
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def answer(policy: str, params: Any) -> dict[str, Any] | None:
    """The ``ElicitResult`` to send, as JSON, or None to refuse the request (a JSON-RPC error)."""
    if policy == "refuse":
        return None
    if policy == "defaults" and isinstance(params, dict) and params.get("mode", "form") == "form":
        content = _defaults(params.get("requestedSchema"))
        if content is not None:
            return {"action": "accept", "content": content}
    return {"action": "decline"}


def _defaults(schema: Any) -> dict[str, Any] | None:
    """The defaults of a form's fields, or None when a required field has none (or the schema is not a form)."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list) or len(properties) > MAX_FIELDS:
        return None
    content: dict[str, Any] = {}
    for name, field in properties.items():
        if isinstance(field, dict) and "default" in field and _valid(field, field["default"]):
            content[name] = field["default"]
    if any(not isinstance(name, str) or name not in content for name in required):
        return None
    return content


def _valid(field: dict[str, Any], value: Any) -> bool:
    kinds = _ACCEPTS.get(field.get("type", ""))
    if kinds is None or not isinstance(value, kinds):
        return False
    if isinstance(value, bool) and bool not in kinds:  # bool is an int in Python, not in JSON Schema
        return False
    if isinstance(value, str) and len(value) > MAX_DEFAULT_CHARS:
        return False
    options = field.get("enum")
    return not isinstance(options, list) or value in options
