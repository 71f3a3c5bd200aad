"""Tool policies (`tool_policies:`): one question, asked by both ``tools/list`` and ``tools/call``, so a caller is
shown exactly the tools it may call."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from wardgate.config.mcp import PolicyScope, ToolPolicyConfig
from wardgate.core.call import Call, Result
from wardgate.core.compiled_rows import CompiledRows
from wardgate.core.errors import WardgateError
from wardgate.core.principal import Principal
from wardgate.mcp.naming import matches_any


class ToolDenied(WardgateError):
    status = 403
    type = "permission_error"
    code = "tool_not_allowed"


class NotListed(WardgateError):
    """A resource or prompt the virtual server does not list: refused like a tool the policies refuse (audited)."""

    status = 403
    type = "permission_error"
    code = "not_listed"


def _compile_row(raw: object) -> ToolPolicyConfig:
    try:
        return ToolPolicyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None


def scope_values(scope: PolicyScope, principal: Principal) -> tuple[str, ...]:
    """The values a principal has for a scope, as budgets read them: a project's id and name both match."""
    if scope == "global":
        return ("*",)
    if scope == "project":
        if principal.project is None:
            return ()
        return (principal.project, principal.project_name) if principal.project_name else (principal.project,)
    if scope == "team":
        return (principal.team,) if principal.team else ()
    if scope == "user":
        return (principal.user,) if principal.user else ()
    return (principal.id,) if principal.kind == "key" else ()


class ToolPolicies:
    """The config file's policies and those made in the admin API (``replace_stored``); one object, shared by
    ``tools/list`` and ``tools/call`` of every virtual server, so a change reaches both at once."""

    def __init__(self, policies: Sequence[ToolPolicyConfig]) -> None:
        self.from_config = tuple(policies)
        self.policies = self.from_config
        self.warnings: tuple[str, ...] = ()
        self._rows: tuple[tuple[str, object], ...] = ()  # the admin API's, as last read
        self._compiled: CompiledRows[ToolPolicyConfig] = CompiledRows(_compile_row)  # once per row's content

    def replace_config(self, policies: Sequence[ToolPolicyConfig]) -> None:
        """A config reload changed the file's ``tool_policies:``: they join the admin API's as last read."""
        self.from_config = tuple(policies)
        self.replace_stored(self._rows)

    def replace_stored(self, rows: Sequence[tuple[str, object]]) -> None:
        """The admin API's policies as stored (validated one by one: a damaged row is reported and skipped); a
        name the config file defines stays the config file's."""
        self._rows = tuple(rows)
        names = {p.name for p in self.from_config}
        stored: list[ToolPolicyConfig] = []
        warnings: list[str] = []
        for name, policy in self._compiled.compile(rows):
            if isinstance(policy, ValueError):
                warnings.append(
                    f"tool policy {name[:100]!r} in the store is not valid and is not applied: {policy}"[:500]
                )
                continue
            if policy.name not in names:
                stored.append(policy)
        self.warnings = tuple(warnings)
        self.policies = (*self.from_config, *stored)  # one assignment: a request sees the old set or the new one

    def applicable(self, principal: Principal) -> tuple[ToolPolicyConfig, ...]:
        out = []
        for policy in self.policies:
            values = scope_values(policy.scope, principal)
            if values and (policy.match is None or policy.match in values):
                out.append(policy)
        return tuple(out)

    def allows(self, principal: Principal, tool: str) -> bool:
        """Every applicable policy allows the tool (an allow glob matches, no deny glob does); no policy: allowed."""
        return all(self._allowed_by(p, tool) for p in self.applicable(principal))

    def denying(self, principal: Principal, tool: str) -> ToolPolicyConfig | None:
        for policy in self.applicable(principal):
            if not self._allowed_by(policy, tool):
                return policy
        return None

    @staticmethod
    def _allowed_by(policy: ToolPolicyConfig, tool: str) -> bool:
        return matches_any(tool, policy.allow) and not matches_any(tool, policy.deny)


class ToolPolicyStage:
    """Refuses a tool call the caller's policies do not allow; entered after accounting, so the refusal is a ledger
    row (not billable) as well as an audit entry."""

    name = "tool_policy"

    def __init__(self, policies: ToolPolicies) -> None:
        self._policies = policies

    async def before(self, call: Call) -> Result | None:
        if call.tool is None or call.principal is None:  # resources/read, prompts/get
            if call.body.get("listed") is False:  # set by the virtual server (federation.py), never by the client
                raise NotListed(f"{call.model!r} is not listed by this virtual server.")
            return None
        policy = self._policies.denying(call.principal, call.tool)
        if policy is not None:
            raise ToolDenied(f"Tool {call.tool!r} is not allowed for this caller (tool policy {policy.name!r}).")
        return None
