"""Virtual keys: create (the key is shown once, in that answer), list, read, revoke, rotate.

Who may do what, per project: an admin manages every key of the project; a member creates, revokes and rotates
keys bound to themselves; a viewer reads. A role on a team counts for the keys bound to that team. Revoking refuses
the key on this worker at once; other replicas get the revocation pushed (Redis or PostgreSQL, milliseconds), and
within the key cache TTL (1 s by default) if the push is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import (
    Operation,
    QueryParam,
    at_least,
    bad_param,
    best,
    can_see,
    query,
    read_body,
    record,
    reply,
    utc,
)
from wardgate.api.admin.errors import Conflict
from wardgate.api.admin.schemas import KeyCreate, KeyCreated, KeyList, KeyRotate, KeyView
from wardgate.assemble import Worker
from wardgate.core.errors import NotFound, PermissionDenied
from wardgate.store.common import NotFoundInStore
from wardgate.store.key_use import last_use_hours
from wardgate.store.keys import KeyRecord
from wardgate.store.tenancy import Project, Role, TenancyStore

MAX_PAGE = 1000
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,100}")  # a key id: nothing else reaches the store


def status_of(key: KeyRecord, when: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    return "active" if key.usable_at(when) else "expired"


def key_view(key: KeyRecord) -> KeyView:
    return KeyView.model_validate(_fields(key))


def key_created(secret: str, key: KeyRecord) -> KeyCreated:
    return KeyCreated.model_validate({**_fields(key), "key": secret})


def _fields(key: KeyRecord) -> dict[str, object]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "status": status_of(key, datetime.now(UTC)),
        "project_id": key.project_id,
        "team_id": key.team_id,
        "user_id": key.user_id,
        "agent_id": key.agent_id,
        "models": list(key.models) if key.models is not None else None,
        "tags": key.tags,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "rotated_from": key.rotated_from,
    }


@dataclass(frozen=True, slots=True)
class KeyScope:
    project: Project
    team_id: str | None
    user_id: str | None
    agent_id: str | None


async def resolve_scope(
    tenancy: TenancyStore, found: Project, team: str | None, user: str | None, agent: str | None
) -> KeyScope:
    """Names or ids → the ids a key is stored with; each must exist, and a team or agent must be the project's.
    Shared with the CLI."""
    team_id = (await tenancy.find_team(found.id, team)).id if team is not None else None
    user_id = (await tenancy.get_user(user)).id if user is not None else None
    agent_id = None
    if agent is not None:
        matches = [a.id for a in await tenancy.list_agents(found.id) if agent in (a.id, a.name)]
        if not matches:
            raise NotFoundInStore(f"project {found.id!r} has no agent {agent!r}")
        agent_id = matches[0]
    return KeyScope(found, team_id, user_id, agent_id)


def key_role(actor: AdminActor, project_id: str, team_id: str | None) -> Role | None:
    team_role = actor.team_roles.get(team_id) if team_id is not None else None
    return best(actor.project_role(project_id), team_role)


def may_manage(actor: AdminActor, key: KeyRecord) -> bool:
    role = key_role(actor, key.project_id, key.team_id)
    if at_least(role, "admin"):
        return True
    return at_least(role, "member") and actor.user_id is not None and key.user_id == actor.user_id


class KeyRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.keys = services.keys

    async def create(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        body = await read_body(request, KeyCreate)
        project = await self.services.tenancy.find_project(body.project)
        if actor.project_role(project.id) is None:  # a team role also makes its project visible
            raise NotFound(f"no project {body.project!r}")
        scope = await resolve_scope(self.services.tenancy, project, body.team, body.user, body.agent)
        role = key_role(actor, project.id, scope.team_id)
        user_id = scope.user_id
        if not at_least(role, "admin"):
            if not at_least(role, "member") or actor.user_id is None:
                raise PermissionDenied(
                    f"Creating keys needs the member role on project {project.id!r} (you are {role})."
                )
            if user_id is None:
                user_id = actor.user_id
            elif user_id != actor.user_id:
                raise PermissionDenied("A member may create keys only for themselves.")
        models = body.models
        if models is not None and project.allowed_models is not None:
            outside = sorted(set(models) - set(project.allowed_models))
            if outside:
                raise bad_param("models", f"not allowed on project {project.id!r}: {', '.join(outside)}")
        expires_at = self._expiry(body)
        secret, key = await self.keys.create(
            project.id,
            team_id=scope.team_id,
            user_id=user_id,
            agent_id=scope.agent_id,
            models=models,
            expires_at=expires_at,
            name=body.name,
            tags=body.tags,
        )
        record(self.services, actor, "key.create", key.id, audit_details(key))
        return reply(key_created(secret, key), 201)

    @staticmethod
    def _expiry(body: KeyCreate) -> datetime | None:
        now = datetime.now(UTC)
        if body.expires_in_days is not None:
            return now + timedelta(days=body.expires_in_days)
        if body.expires_at is None:
            return None
        expires_at = utc(body.expires_at, "expires_at")
        if expires_at <= now:
            raise bad_param("expires_at", "is in the past")
        return expires_at

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        wanted = query(request, "project")
        if wanted is None:
            scope = actor.visible_projects()
        else:
            project = await self.services.tenancy.find_project(wanted)
            can_see(actor, project.id)
            scope = [project.id]
        raw = query(request, "limit")
        if raw is not None and (not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE):
            raise bad_param("limit", f"must be an integer from 1 to {MAX_PAGE}")
        limit = int(raw) if raw is not None else None
        cursor = query(request, "cursor")
        if cursor is not None and not _CURSOR.fullmatch(cursor):
            raise bad_param("cursor", "not a next_cursor of this listing")
        if cursor is not None and limit is None:
            raise bad_param("cursor", "pages need a limit: pass limit too")
        try:
            # one more than the page, to know whether another follows
            found = await self.keys.list(scope, limit=limit + 1 if limit else None, after=cursor)
        except NotFoundInStore:
            raise bad_param("cursor", "not a next_cursor of this listing") from None
        more = limit is not None and len(found) > limit
        page = found[:limit] if limit is not None else found
        next_cursor = page[-1].id if more else None
        used = await last_use_hours(self.services.engine, [k.id for k in page])
        views = [key_view(k).model_copy(update={"last_used_hour": used.get(k.id)}) for k in page]
        return reply(KeyList(data=views, next_cursor=next_cursor))

    async def _visible_key(self, actor: AdminActor, key_id: str) -> KeyRecord:
        key = await self.keys.get(key_id)
        if key_role(actor, key.project_id, key.team_id) is None:
            raise NotFound(f"no key {key_id!r}")
        return key

    async def get(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        key = await self._visible_key(actor, request.path_params["key_id"])
        used = await last_use_hours(self.services.engine, [key.id])
        return reply(key_view(key).model_copy(update={"last_used_hour": used.get(key.id)}))

    async def _managed_key(self, actor: AdminActor, key_id: str) -> KeyRecord:
        key = await self._visible_key(actor, key_id)
        if not may_manage(actor, key):
            raise PermissionDenied(f"You may not change key {key_id!r} (a member manages only their own keys).")
        return key

    async def revoke(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        key = await self._managed_key(actor, request.path_params["key_id"])
        revoked = await self.keys.revoke(key.id)
        self.services.key_cache.revoked(await self.keys.hash_of(key.id))
        record(self.services, actor, "key.revoke", key.id, {"project": key.project_id, "prefix": key.prefix})
        return reply(key_view(revoked))

    async def rotate(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        key = await self._managed_key(actor, request.path_params["key_id"])
        body = await read_body(request, KeyRotate, required=False)
        if key.revoked_at is not None:
            raise Conflict(f"Key {key.id!r} is revoked; create a new key instead.")
        secret, new = await self.keys.rotate(key.id, overlap=timedelta(hours=body.overlap_hours))
        self.services.key_cache.changed(await self.keys.hash_of(key.id))
        details = {**audit_details(new), "overlap_hours": body.overlap_hours}
        record(self.services, actor, "key.rotate", key.id, details)
        return reply(key_created(secret, new), 201)


def audit_details(key: KeyRecord) -> dict[str, object]:
    """What the trail keeps of a key: its scope and prefix, never the key."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "project": key.project_id,
        "team": key.team_id,
        "user": key.user_id,
        "agent": key.agent_id,
        "models": list(key.models) if key.models is not None else None,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "name": key.name,
    }


def operations(services: Worker) -> list[Operation]:
    r = KeyRoutes(services)
    one = "/admin/v1/keys/{key_id}"
    project = QueryParam("project", "only this project's keys (id or name)", {"type": "string", "minLength": 1})
    return [
        Operation(
            "POST",
            "/admin/v1/keys",
            "Create a key; the answer is the only place the key is shown",
            "keys",
            r.create,
            KeyCreated,
            201,
            KeyCreate,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "GET",
            "/admin/v1/keys",
            "List keys (prefixes only), oldest first; paged with limit and cursor",
            "keys",
            r.list,
            KeyList,
            query=(
                project,
                QueryParam(
                    "limit",
                    f"keys per page (1-{MAX_PAGE}); absent: every key",
                    {"type": "string", "pattern": "^[0-9]{1,4}$"},
                ),
                QueryParam(
                    "cursor", "next_cursor of the previous page (needs limit)", {"type": "string", "minLength": 1}
                ),
            ),
            errors=(400, 401, 403, 404),
        ),
        Operation("GET", one, "Get a key's record", "keys", r.get, KeyView),
        Operation(
            "POST",
            one + "/revoke",
            "Revoke a key (at once on this replica, pushed to the others)",
            "keys",
            r.revoke,
            KeyView,
        ),
        Operation(
            "POST",
            one + "/rotate",
            "Replace a key; the old one keeps working for overlap_hours",
            "keys",
            r.rotate,
            KeyCreated,
            201,
            KeyRotate,
            body_required=False,
            errors=(400, 401, 403, 404, 409),
        ),
    ]
