"""The prompts stage: after identity, before the model check and limits. A request that names a managed prompt
(``wardgate_prompt`` or the model ``prompt:NAME@LABEL``) gets the version's messages rendered in front of its own, the
version's model and params where the request does not override them, and its canary arm; anything else passes
through at the cost of one dict lookup and one string prefix test."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from time import perf_counter
from typing import Any

from wardgate.core.call import Call, CostOf, PromptUse, Result
from wardgate.core.errors import InternalError, InvalidRequest, NotFound, WardgateError
from wardgate.core.principal import Principal
from wardgate.prompts.canary import Variant, arm
from wardgate.prompts.decorate import Decorators
from wardgate.prompts.outcomes import CanaryOutcomes
from wardgate.prompts.reference import FIELD, PromptRef, is_referenced, reference_of
from wardgate.prompts.state import PromptState
from wardgate.prompts.template import RESERVED_VARIABLES, CompiledVersion, RenderError

log = logging.getLogger("wardgate.prompts")


class PromptNotFound(NotFound):
    code = "prompt_not_found"


class InvalidPromptVariable(InvalidRequest):
    code = "invalid_prompt_variable"


class PromptsStage:
    name = "prompts"

    def __init__(
        self,
        state: PromptState,
        outcomes: CanaryOutcomes,
        cost_of: CostOf,
        max_rendered_bytes: int,
        decorators: Decorators | None = None,
    ) -> None:
        self._state = state
        self._outcomes = outcomes
        self._cost_of = cost_of
        self._max = max_rendered_bytes
        self._decorators = decorators

    async def before(self, call: Call) -> Result | None:
        if is_referenced(call.body, call.model):
            await self._render(call)
        if self._decorators is not None and call.operation == "chat":
            self._decorate(call, self._decorators)
        return None

    def _decorate(self, call: Call, decorators: Decorators) -> None:
        principal = call.principal
        assert principal is not None, "identity runs first"
        try:
            decoration = decorators.apply(principal, call.model, _variables({}, principal))
        except RenderError as exc:  # the operator's template needs more than identity binds: fail closed, loudly
            log.error("a prompt decorator cannot be rendered for request %s: %s", call.id, exc)
            raise InternalError(
                f"A prompt decorator of this gateway cannot be rendered (request id {call.id})."
            ) from None
        if decoration is not None:
            messages = [*decoration.prefix, *(call.body.get("messages") or ()), *decoration.suffix]
            call.body = {**call.body, "messages": messages}

    async def _render(self, call: Call) -> None:
        body = call.body
        if call.operation != "chat":
            raise InvalidRequest(
                "Managed prompts render chat messages: name them on /v1/chat/completions.",
                param=FIELD,
                code="invalid_prompt_reference",
            )
        ref = reference_of(body, call.model)
        principal = call.principal
        assert principal is not None, "identity runs first"
        version, variant, canary = await self._resolve(ref, principal, call)
        variables = _variables(ref.variables, principal)
        try:
            rendered = version.render(variables, self._max)
        except RenderError as exc:
            param = f"{FIELD}.variables.{exc.variable}" if exc.variable else f"{FIELD}.variables"
            raise InvalidPromptVariable(str(exc), param=param) from None
        call.body = _merge(body, version, rendered, ref)
        call.model = call.body["model"]
        call.prompt = PromptUse(ref.name, version.id, variant, canary)

    async def _resolve(
        self, ref: PromptRef, principal: Principal, call: Call
    ) -> tuple[CompiledVersion, Variant, str | None]:
        project = principal.project
        if ref.version is not None:
            found = await self._state.version(project, ref.name, ref.version)
            if found is None:
                raise PromptNotFound(f"Prompt '{ref.name}' has no version {ref.version!r}.", param=FIELD)
            return found, "control", None
        assert ref.label is not None
        target = self._state.target(project, ref.name, ref.label)
        if target is None:
            if self._state.has_prompt(project, ref.name):
                raise PromptNotFound(f"Prompt '{ref.name}' has no label '{ref.label}'.", param=FIELD)
            raise PromptNotFound(f"Prompt '{ref.name}' does not exist or you do not have access to it.", param=FIELD)
        canary = target.canary
        if canary is None:
            return target.version, "control", None
        sticky = principal.id if canary.sticky == "key" else (principal.user or call.end_user or principal.id)
        if arm(canary.id, sticky, canary.percent) == "canary":
            return canary.version, "canary", canary.id
        return target.version, "control", canary.id

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        use = call.prompt
        if use is None or use.canary is None:
            return
        if error is not None:
            failed = not isinstance(error, WardgateError) or error.status >= 500
        else:
            failed = result is not None and result.status >= 500
        end = call.first_token_at if call.first_token_at is not None else perf_counter()
        cost = self._cost_of(call) if error is None else 0
        self._outcomes.record(
            use.canary, "canary" if use.variant == "canary" else "control", failed, (end - call.started) * 1000, cost
        )


def _variables(given: Mapping[str, Any], principal: Principal) -> dict[str, Any]:
    for name in given:
        if name in RESERVED_VARIABLES:
            raise InvalidPromptVariable(
                f"Prompt variable '{name}' is bound by the gateway from your identity; a request may not set it.",
                param=f"{FIELD}.variables.{name}",
            )
    variables = dict(given)
    variables["principal"] = {
        "user": principal.user,
        "project": principal.project_name or principal.project,
        "team": principal.team,
        "key": principal.id if principal.kind == "key" else None,
        "tags": dict(principal.tags),
    }
    variables["project"] = {"id": principal.project, "name": principal.project_name, **principal.project_metadata}
    return variables


def _merge(
    body: dict[str, Any], version: CompiledVersion, rendered: list[dict[str, Any]], ref: PromptRef
) -> dict[str, Any]:
    """The request to send: the version's params under the request's own fields (where the version lets them
    override), the version's model unless the request may and does choose one, the template's messages first."""
    allowed = version.overrides
    merged: dict[str, Any] = {}
    for key, value in version.params.items():
        if key not in body or (allowed is not None and key not in allowed):
            merged[key] = value
    for key, value in body.items():
        if key in ("messages", "model", FIELD) or key in merged:
            continue
        merged[key] = value
    client_model = None if ref.from_model else body.get("model")
    model_overridable = allowed is not None and "model" in allowed
    if version.model is not None and not (model_overridable and client_model):
        merged["model"] = version.model
    elif client_model:
        merged["model"] = client_model
    else:
        raise InvalidRequest(
            f"Prompt '{ref.name}' names no model: send `model` with {FIELD}.",
            param="model",
            code="missing_required_parameter",
        )
    merged["messages"] = rendered + list(body.get("messages") or ())
    return merged
