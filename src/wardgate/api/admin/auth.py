"""Who is calling the admin API, and what they may see and change.

System admins (the master key, or a user with the system admin role) see everything. A user (a virtual key bound
to a user, or a JWT of the configured issuer: jwt_auth.py) sees the projects where they hold a role: admin may
change the project, its teams and keys; member may read it and manage keys bound to themselves; viewer may read it.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.requests import Request

from wardgate.api.admin.session_codec import CSRF_HEADER, Session, SessionCodec, cookie_of
from wardgate.assemble import Worker
from wardgate.core.errors import PermissionDenied, Unauthenticated
from wardgate.core.principal import Principal
from wardgate.store.keys import KEY_PREFIX
from wardgate.store.tenancy import Role

_RANK = {"viewer": 0, "member": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class AdminActor:
    id: str  # "master" or "user:<id>"
    system_role: Role | None
    project_roles: dict[str, Role] = field(default_factory=dict)
    team_roles: dict[str, Role] = field(default_factory=dict)
    user_id: str | None = None

    @property
    def is_system_admin(self) -> bool:
        return self.system_role == "admin"

    def project_role(self, project_id: str) -> Role | None:
        if self.system_role is not None:
            return self.system_role
        return self.project_roles.get(project_id)

    def require_project(self, project_id: str, at_least: Role) -> None:
        role = self.project_role(project_id)
        if role is None:
            raise PermissionDenied(f"no access to project {project_id!r}")
        if _RANK[role] < _RANK[at_least]:
            raise PermissionDenied(f"this needs the {at_least} role on project {project_id!r} (you are {role})")

    def require_system(self, at_least: Role) -> None:
        if self.system_role is None or _RANK[self.system_role] < _RANK[at_least]:
            raise PermissionDenied(f"this needs the system {at_least} role")

    def visible_projects(self) -> list[str] | None:
        """None: every project."""
        return None if self.system_role is not None else sorted(self.project_roles)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticate(request: Request, services: Worker) -> AdminActor:
    """The caller, from a header credential or else the console's session cookie (session_codec.py). A change made
    through the cookie must carry the session's CSRF token in ``x-csrf-token``."""
    header = request.headers.get("authorization", "")
    credential = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key")
    if not credential:
        session = session_of(request)
        if session is None:
            raise Unauthenticated("The admin API needs `Authorization: Bearer <master key or user key>`.")
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise PermissionDenied(
                    f"A change made with the console's session needs its CSRF token in `{CSRF_HEADER}`.",
                    code="csrf_failed",
                )
        credential = session.credential
    return await actor_for_credential(credential, services)


def session_of(request: Request) -> Session | None:
    codec: SessionCodec | None = getattr(request.app.state, "sessions", None)
    value = cookie_of(request.headers.get("cookie"))
    if codec is None or value is None:
        return None
    return codec.open(value, time.time())


async def actor_for_credential(credential: str, services: Worker) -> AdminActor:
    master = services.settings.master_key
    if master is not None and hmac.compare_digest(credential.encode(), master.get_secret_value().encode()):
        return AdminActor("master", "admin")
    if credential.startswith(KEY_PREFIX):
        principal = await _principal(credential, services)
        if principal is not None and principal.user is not None:
            return await actor_for_user(principal.user, services)
    elif services.jwt is not None and credential.count(".") == 2:  # a JWT from the configured OIDC issuer
        from wardgate.api.admin.jwt_auth import jwt_actor

        return await jwt_actor(credential, services)
    raise Unauthenticated(
        "Incorrect API key provided (the admin API takes the master key, a key bound to a user or a JWT of the "
        "configured issuer)."
    )


async def _principal(credential: str, services: Worker) -> Principal | None:
    entry = await services.key_cache.lookup(credential)
    if entry.record is None or not entry.record.usable_at(datetime.now(UTC)):
        return None
    return entry.principal


async def actor_for_user(user_id: str, services: Worker) -> AdminActor:
    system: Role | None = None
    projects: dict[str, Role] = {}
    teams: dict[str, Role] = {}
    for m in await services.tenancy.memberships_of(user_id):
        if m.scope_kind == "system":
            system = m.role
        elif m.scope_kind == "project":
            projects[m.scope_id] = m.role
        else:
            teams[m.scope_id] = m.role
            team = await services.tenancy.get_team(m.scope_id)
            projects.setdefault(team.project_id, "viewer")
    return AdminActor(f"user:{user_id}", system, projects, teams, user_id)
