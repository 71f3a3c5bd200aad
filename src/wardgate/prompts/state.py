"""What every worker holds of the prompt store: labels, canaries and their compiled versions, re-read every
``prompts.refresh_s`` (at once on the worker that changed them) and swapped in one assignment, so the hot path is a
dict lookup and never waits on the store.

Versions are immutable, so a compiled version is kept as long as a label or canary points to it; versions asked for
by id or number are kept in a bounded LRU beside them. Misses are kept too, until the next refresh: a stream of
unknown ids costs at most one read per id per refresh, and a version pushed since is found.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from wardgate.prompts.artifacts import expand, references
from wardgate.prompts.canary import RollbackRule
from wardgate.prompts.template import CompiledVersion, compile_version
from wardgate.store.prompts import SYSTEM, PromptStore, VersionRow, read_spec

log = logging.getLogger("wardgate.prompts")
Key = tuple[str, str, str]  # (project_id, prompt, label or version id)
_LRU_MAX = 1024


@dataclass(frozen=True, slots=True)
class Canary:
    id: str
    label: str
    version: CompiledVersion
    percent: float
    sticky: str  # user | key
    rule: RollbackRule


@dataclass(frozen=True, slots=True)
class Target:
    """Where one label points now, and its canary if one runs."""

    project_id: str
    label: str
    version: CompiledVersion
    canary: Canary | None


class PromptState:
    def __init__(self, store: PromptStore, refresh_s: float) -> None:
        self.store = store
        self._refresh_s = refresh_s
        self.targets: dict[Key, Target] = {}
        self._compiled: dict[Key, CompiledVersion] = {}
        self._by_request: OrderedDict[tuple[str, str, str | int], CompiledVersion | None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def target(self, project_id: str | None, name: str, label: str) -> Target | None:
        """The project's own prompt first, then the system-wide one of that name."""
        if project_id:
            found = self.targets.get((project_id, name, label))
            if found is not None:
                return found
        return self.targets.get((SYSTEM, name, label))

    def has_prompt(self, project_id: str | None, name: str) -> bool:
        return any(k[1] == name and k[0] in (project_id or SYSTEM, SYSTEM) for k in self.targets)

    async def version(self, project_id: str | None, name: str, version: str | int) -> CompiledVersion | None:
        for owner in (project_id, SYSTEM) if project_id else (SYSTEM,):
            key = (owner, name, version)
            if key in self._by_request:
                self._by_request.move_to_end(key)
                found = self._by_request[key]
            else:
                row = (
                    await self.store.version_by_number(owner, name, version)
                    if isinstance(version, int)
                    else await self.store.version(owner, name, version, missing_ok=True)
                )
                found = await self._compile(row) if row is not None else None
                self._by_request[key] = found
                while len(self._by_request) > _LRU_MAX:
                    self._by_request.popitem(last=False)
            if found is not None:
                return found
        return None

    async def load(self) -> None:
        """Re-read labels and canaries; compile the versions not compiled yet; swap."""
        async with self._lock:
            labels, canaries = await self.store.labels(), await self.store.canaries()
            wanted = {(r.project_id, r.prompt, r.version) for r in labels}
            wanted |= {(c.project_id, c.prompt, c.version) for c in canaries}
            missing = [k for k in wanted if k not in self._compiled]
            compiled = {k: v for k, v in self._compiled.items() if k in wanted}
            for row in await self.store.versions_by_id(missing):
                version = await self._compile(row)
                if version is not None:
                    compiled[(row.project_id, row.prompt, row.id)] = version
            runs = {}
            for c in canaries:
                version = compiled.get((c.project_id, c.prompt, c.version))
                if version is not None:
                    try:
                        rule = RollbackRule.of(c.rollback)
                    except TypeError:
                        log.error("canary %s has an unreadable rollback rule; it is not run", c.id)
                        continue
                    runs[(c.project_id, c.prompt, c.label)] = Canary(c.id, c.label, version, c.percent, c.sticky, rule)
            targets = {}
            for r in labels:
                version = compiled.get((r.project_id, r.prompt, r.version))
                if version is not None:
                    key = (r.project_id, r.prompt, r.label)
                    targets[key] = Target(r.project_id, r.label, version, runs.get(key))
            self._compiled, self.targets = compiled, targets
            for missed in [k for k, v in self._by_request.items() if v is None]:  # a version pushed since is found
                del self._by_request[missed]

    def canaries(self) -> list[tuple[Target, Canary]]:
        return [(t, t.canary) for t in self.targets.values() if t.canary is not None]

    async def _compile(self, row: VersionRow) -> CompiledVersion | None:
        try:
            spec = (
                await expand(row.spec, row.project_id, partial(read_spec, self.store))
                if references(row.spec)
                else row.spec
            )
            return compile_version(row.prompt, row.id, row.number, spec)
        except (ValueError, LookupError):  # written by hand or by an older version: served by nobody, reported once
            log.error("prompt %r version %s cannot be compiled; it is not served", row.prompt, row.id)
            return None

    def start(self) -> None:
        self._task = asyncio.create_task(self._periodic(), name="prompt-refresh")

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.load()
            except Exception:  # the store is down: keep serving what was loaded, try again next time
                log.warning("prompt refresh failed; serving the labels loaded before", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
