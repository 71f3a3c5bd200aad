"""Who is calling. Issue 4 fills in projects, teams, users and agents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PrincipalKind = Literal["master", "key", "jwt", "agent"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: str
    project: str | None = None
    project_name: str | None = None  # budgets and rate limits may name a project instead of its id
    team: str | None = None
    user: str | None = None
    allowed_models: frozenset[str] | None = None  # None: every model
    tags: Mapping[str, str] = field(default_factory=dict)  # read-only: keys of a project may share one
    # the project's metadata and cost center, from the store (never from the client): managed prompts bind them
    project_metadata: Mapping[str, Any] = field(default_factory=dict)  # read-only, shared by a project's keys

    def may_use(self, model: str) -> bool:
        """The one model-access rule; enforced once per call, right after identity (identity/access.py)."""
        return self.allowed_models is None or model in self.allowed_models
