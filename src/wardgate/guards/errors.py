"""What a client sees when a guard stops a call."""

from __future__ import annotations

from wardgate.core.errors import WardgateError


class GuardBlocked(WardgateError):
    """A guard matched and its action is ``block``: ``param`` names the guard; the matched text is never echoed."""

    status, type, code = 400, "invalid_request_error", "guard_blocked"


class GuardUnavailable(WardgateError):
    """A guard failed and its ``on_error`` is ``block`` (the default): fail closed."""

    status, type, code = 503, "api_error", "guard_unavailable"


def blocked(name: str, kind: str, where: str) -> GuardBlocked:
    return GuardBlocked(f"The {where} was blocked by the {kind} guard {name!r}.", param=name)
