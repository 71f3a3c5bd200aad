"""What the externally issued identities (JWT/OIDC, mTLS) share: the project and team they name, resolved to ids
through the tenancy store, and the Principal built from them.

An issuer names a project by id or by name; the lookup is cached per worker for ``ttl_s`` (the key cache's TTL), so
the hot path stays off the database and a renamed or deleted project stops matching within that bound. Unknown names
are cached too: a flood of tokens naming a missing project costs one query per TTL, not one per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from wardgate.core.errors import PermissionDenied
from wardgate.core.outage import Outage
from wardgate.core.principal import Principal, PrincipalKind
from wardgate.store.availability import reaching_store, store_outage
from wardgate.store.common import NotFoundInStore
from wardgate.store.tenancy import Project, Team, TenancyStore

K = TypeVar("K")
V = TypeVar("V")
PRINCIPAL_ID_MAX = 128  # usage_events.principal_id
USER_ID_MAX = 64  # usage_events.user_id
_MAX_ENTRIES = 10_000


def bounded(text: str, limit: int) -> str:
    """``text`` if it fits the ledger column, else its prefix up to the first ``:`` and a digest of the whole.

    An over-long value would make a whole batch of usage rows fail to insert on PostgreSQL; the digest keeps it
    distinct and stable instead of truncating it into another identity."""
    if len(text) <= limit:
        return text
    prefix = text.split(":", 1)[0][:16] if ":" in text else ""
    return f"{prefix}:sha256:{hashlib.sha256(text.encode()).hexdigest()[:40]}".lstrip(":")


class _TTLCache(Generic[K, V]):
    """Single-flight: concurrent misses on one key share one load."""

    def __init__(self, load: Callable[[K], Awaitable[V]], ttl_s: float) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        pending = self._loading.get(key)
        if pending is None:  # one load per key at a time, in a task of its own (a caller that leaves cancels nothing)
            pending = self._loading[key] = asyncio.ensure_future(self._load_and_keep(key))
            pending.add_done_callback(_retrieved)
        return await asyncio.shield(pending)

    async def _load_and_keep(self, key: K) -> V:
        try:
            value = await self._load(key)
            if len(self._entries) >= _MAX_ENTRIES:  # bounded: drop everything rather than grow without limit
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl_s, value)
            return value
        finally:
            del self._loading[key]


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # every waiter may have left: the error is not "never retrieved"


class ProjectDirectory:
    """Project and team references (id or name) → records, cached."""

    def __init__(self, tenancy: TenancyStore, ttl_s: float = 1.0, outage: Outage | None = None) -> None:
        self._tenancy = tenancy
        self._outage = outage or store_outage()  # an unreachable store is a 503, not a 500
        self._projects: _TTLCache[str, Project | None] = _TTLCache(self._find_project, ttl_s)
        self._teams: _TTLCache[tuple[str, str], Team | None] = _TTLCache(self._find_team, ttl_s)

    async def project(self, ref: str) -> Project | None:
        return await self._projects.get(ref)

    async def team(self, project_id: str, ref: str) -> Team | None:
        return await self._teams.get((project_id, ref))

    async def _find_project(self, ref: str) -> Project | None:
        try:
            with reaching_store(self._outage):
                return await self._tenancy.find_project(ref)
        except NotFoundInStore:
            return None

    async def _find_team(self, key: tuple[str, str]) -> Team | None:
        try:
            with reaching_store(self._outage):
                return await self._tenancy.find_team(*key)
        except NotFoundInStore:
            return None


async def external_principal(
    directory: ProjectDirectory,
    *,
    kind: PrincipalKind,
    id: str,
    project_ref: str | None,
    team_ref: str | None,
    user: str | None,
    models: Iterable[str] | None,
    tags: dict[str, str],
    require_project: bool,
    source: str,
) -> Principal:
    """Resolve what the issuer named and intersect its model list with the project's. ``source`` names the
    credential in error messages ("token claim 'wardgate_project'", "certificate OU")."""
    if project_ref is None:
        if require_project:
            raise PermissionDenied(f"The {source} names no project; a project is required.")
        if team_ref is not None:
            raise PermissionDenied(f"The {source} names team {team_ref!r} but no project.")
        allowed = frozenset(models) if models is not None else None
        return Principal(
            kind=kind, id=bounded(id, PRINCIPAL_ID_MAX), user=_user(user), allowed_models=allowed, tags=tags
        )
    project = await directory.project(project_ref)
    if project is None:
        raise PermissionDenied(f"The {source} names project {project_ref!r}, which does not exist.")
    team_id = None
    if team_ref is not None:
        team = await directory.team(project.id, team_ref)
        if team is None:
            raise PermissionDenied(f"Project {project.name!r} has no team {team_ref!r}.")
        team_id = team.id
    allowed = None
    if project.allowed_models is not None and models is not None:
        allowed = frozenset(project.allowed_models) & frozenset(models)
    elif project.allowed_models is not None:
        allowed = frozenset(project.allowed_models)
    elif models is not None:
        allowed = frozenset(models)
    return Principal(
        kind=kind,
        id=bounded(id, PRINCIPAL_ID_MAX),
        project=project.id,
        team=team_id,
        user=_user(user),
        allowed_models=allowed,
        tags=tags,
        project_metadata={"metadata": dict(project.metadata), "cost_center": project.cost_center},
    )


def _user(user: str | None) -> str | None:
    return bounded(user, USER_ID_MAX) if user is not None else None
