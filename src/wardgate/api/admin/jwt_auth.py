"""JWT/OIDC callers of the admin API: the token is verified exactly as on the data plane (identity/jwt.py); the
caller's roles are those of the Wardgate user its ``claims.user`` claim names (by id or email), if any, merged with
the roles ``identity.jwt.admin.roles`` grants for values of the ``admin.claim`` claim (the best role per scope).

The user claim is trusted only because the issuer signed it; a token that maps to no user and whose claims grant
no role is authenticated but sees nothing.
"""

from __future__ import annotations

from typing import Any

from wardgate.api.admin.auth import AdminActor, actor_for_user
from wardgate.assemble import Worker
from wardgate.config.identity import JWTAdminConfig
from wardgate.store.common import NotFoundInStore
from wardgate.store.tenancy import Role

_RANK = {"viewer": 0, "member": 1, "admin": 2}
MAX_CLAIM_VALUES = 200  # a token listing more groups than this is cut there: bounded work per request


def _better(current: Role | None, offered: Role) -> Role:
    return offered if current is None or _RANK[offered] > _RANK[current] else current


def claim_values(claims: dict[str, Any], name: str) -> set[str]:
    raw = claims.get(name)
    if isinstance(raw, str):
        return {raw}
    if isinstance(raw, list):
        return {v for v in raw[:MAX_CLAIM_VALUES] if isinstance(v, str)}
    return set()


async def jwt_actor(token: str, services: Worker) -> AdminActor:
    verifier = services.jwt
    assert verifier is not None
    claims = await verifier.verify(token)  # 401 naming what failed
    subject = claims.get(verifier.config.claims.user)
    base = AdminActor(f"jwt:{str(subject)[:150]}", None)  # the audit trail's actor column holds 200 characters
    if isinstance(subject, str) and subject:
        try:
            user = await services.tenancy.get_user(subject)
        except NotFoundInStore:
            user = None
        if user is not None:
            base = await actor_for_user(user.id, services)
    admin = verifier.config.admin
    if admin is None:
        return base
    return await _with_claimed_roles(base, claims, admin, services)


async def _with_claimed_roles(
    actor: AdminActor, claims: dict[str, Any], admin: JWTAdminConfig, services: Worker
) -> AdminActor:
    held = claim_values(claims, admin.claim)
    system = actor.system_role
    projects = dict(actor.project_roles)
    for grant in admin.roles:
        if grant.value not in held:
            continue
        if grant.project is None:
            system = _better(system, grant.role)
            continue
        try:
            project = await services.tenancy.find_project(grant.project)
        except NotFoundInStore:
            continue  # a mapping to a project that does not exist (yet) grants nothing
        projects[project.id] = _better(projects.get(project.id), grant.role)
    return AdminActor(actor.id, system, projects, dict(actor.team_roles), actor.user_id)
