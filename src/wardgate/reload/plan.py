"""What a new config changes in a running worker: pure, tested without I/O.

Only the sections a worker can rebuild while it serves are applied: ``providers``, ``models`` (routes included),
``budgets`` and ``rate_limits``. They are rebuilt into a new pipeline and swapped in with one assignment, so a
request sees either the old config or the new one, never a mix. The other sections hold what the worker opened at
start-up (the store, Redis, the server's sockets, keys, queues): a change there is reported as needing a restart
and the running value is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from wardgate.config import Settings
from wardgate.config.errors import ConfigError, ConfigProblem, dotted

RELOADABLE = ("providers", "models", "budgets", "rate_limits")


@dataclass(frozen=True, slots=True)
class Plan:
    settings: Settings  # the running config with the candidate's reloadable sections
    changed: tuple[str, ...]  # reloadable sections that differ: applied
    needs_restart: tuple[str, ...]  # other sections that differ: kept as running, applied at the next restart

    @property
    def empty(self) -> bool:
        return not self.changed


def plan(running: Settings, candidate: Settings, source: str) -> Plan:
    """The merged config; ``ConfigError`` (naming ``source``, the key and the fix) when the merge is invalid, e.g. a
    model the candidate removed is still named by a running section that only a restart would change."""
    fields = type(running).model_fields
    changed = tuple(name for name in RELOADABLE if getattr(running, name) != getattr(candidate, name))
    needs_restart = tuple(
        name for name in fields if name not in RELOADABLE and getattr(running, name) != getattr(candidate, name)
    )
    values: dict[str, Any] = {name: getattr(running, name) for name in fields}
    values.update({name: getattr(candidate, name) for name in RELOADABLE})
    try:
        merged = Settings.model_validate(values)  # the cross-section checks, on the merged config
    except ValidationError as exc:
        problems = [
            ConfigProblem(
                dotted(error["loc"]),
                error["msg"],
                "change it together with the sections that need a restart, then restart the gateway",
            )
            for error in exc.errors()
        ]
        raise ConfigError(source, problems) from None
    return Plan(merged, changed, needs_restart)
