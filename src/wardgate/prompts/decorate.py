"""Decorators: managed prompts put before (a house system prompt) or after every matching chat request's messages
(`prompts.decorators`). Their content is versioned, reviewed and rolled back like any prompt's; which requests they
match is config. They see identity's variables only: a request cannot steer them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wardgate.config.prompts import DecoratorConfig
from wardgate.core.principal import Principal
from wardgate.prompts.state import PromptState


@dataclass(frozen=True, slots=True)
class Decoration:
    prefix: list[dict[str, Any]]
    suffix: list[dict[str, Any]]
    versions: tuple[str, ...]  # "<prompt>:<version id>" of each decorator applied, for the ledger's details


class Decorators:
    def __init__(self, configs: Sequence[DecoratorConfig], state: PromptState, max_bytes: int) -> None:
        self._configs = tuple(configs)
        self._models = tuple(frozenset(c.models) if c.models is not None else None for c in self._configs)
        self._state = state
        self._max = max_bytes

    def apply(self, principal: Principal, model: str, variables: dict[str, Any]) -> Decoration | None:
        """The messages of every decorator matching this caller and model, rendered; None when none applies.
        Raises RenderError when a decorator's template needs a variable identity does not bind."""
        prefix: list[dict[str, Any]] = []
        suffix: list[dict[str, Any]] = []
        applied = []
        for config, models in zip(self._configs, self._models, strict=True):
            if config.project is not None and config.project not in (principal.project, principal.project_name):
                continue
            if models is not None and model not in models:
                continue
            target = self._state.target(principal.project, config.prompt, config.label)
            if target is None:  # not released yet: nothing to apply
                continue
            rendered = target.version.render(variables, self._max)
            (prefix if config.position == "prefix" else suffix).extend(rendered)
            applied.append(f"{config.prompt}:{target.version.id}")
        if not applied:
            return None
        return Decoration(prefix, suffix, tuple(applied))
