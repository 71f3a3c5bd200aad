"""Users and their roles at the three tiers (system, project, team).

A user record is global; what a caller sees of it follows the projects they can see. System admins create users
and grant system roles; a project admin may create users (to onboard them) and grant or remove roles on their
project and its teams.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import Operation, read_body, record, reply, require
from wardgate.api.admin.paging import page_ask, page_params, paginate
from wardgate.api.admin.schemas import (
    Deleted,
    ProjectRoleGrant,
    ProjectScope,
    RoleGrant,
    RoleScope,
    RoleView,
    SystemRoleGrant,
    SystemScope,
    TeamRoleGrant,
    TeamScope,
    UserCreate,
    UserList,
    UserView,
)
from wardgate.assemble import Worker
from wardgate.core.errors import NotFound, PermissionDenied
from wardgate.store.common import NotFoundInStore
from wardgate.store.tenancy import Membership, User


def role_view(m: Membership) -> RoleView:
    return RoleView(user_id=m.user_id, scope=m.scope_kind, scope_id=m.scope_id or None, role=m.role)


def _admins_a_project(actor: AdminActor) -> bool:
    return actor.is_system_admin or "admin" in actor.project_roles.values()


class UserRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.tenancy = services.tenancy

    async def _sees_role(self, actor: AdminActor, m: Membership) -> bool:
        if actor.system_role is not None or actor.user_id == m.user_id:
            return True
        if m.scope_kind == "project":
            return actor.project_role(m.scope_id) is not None
        if m.scope_kind == "team":
            try:
                team = await self.tenancy.get_team(m.scope_id)
            except NotFoundInStore:
                return False
            return actor.project_role(team.project_id) is not None
        return False

    async def _view(self, actor: AdminActor, user: User) -> UserView | None:
        """The user as the caller may see them; None when they share no project."""
        roles = [role_view(m) for m in await self.tenancy.memberships_of(user.id) if await self._sees_role(actor, m)]
        if actor.system_role is None and actor.user_id != user.id and not roles:
            return None
        return UserView(id=user.id, email=user.email, name=user.name, created_at=user.created_at, roles=roles)

    async def create(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        if not _admins_a_project(actor):
            raise PermissionDenied("Creating users needs the system admin role or the admin role on a project.")
        body = await read_body(request, UserCreate)
        user = await self.tenancy.create_user(body.email, name=body.name)
        record(self.services, actor, "user.create", user.id, {"email": user.email, "name": user.name})
        return reply(UserView(id=user.id, email=user.email, name=user.name, created_at=user.created_at, roles=[]), 201)

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        ask = page_ask(request)
        views = [await self._view(actor, user) for user in await self.tenancy.list_users()]
        page, next_cursor = paginate([v for v in views if v is not None], lambda v: v.id, ask)
        return reply(UserList(data=page, next_cursor=next_cursor))

    async def get(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        wanted = request.path_params["user_id"]
        user = await self.tenancy.get_user(wanted)
        view = await self._view(actor, user)
        if view is None:
            if not _admins_a_project(actor):
                raise NotFound(f"no user {wanted!r}")
            # a project admin looks people up by id or email to give them a role
            view = UserView(id=user.id, email=user.email, name=user.name, created_at=user.created_at, roles=[])
        return reply(view)

    async def _authorise_scope(self, actor: AdminActor, scope: SystemScope | ProjectScope | TeamScope) -> str:
        """Check the caller may change roles at this scope; return the scope's id ("" for system)."""
        if isinstance(scope, SystemScope):
            actor.require_system("admin")
            return ""
        if isinstance(scope, ProjectScope):
            require(actor, scope.scope_id, "admin")
            return (await self.tenancy.get_project(scope.scope_id)).id
        team = await self.tenancy.get_team(scope.scope_id)
        if actor.project_role(team.project_id) is None:
            raise NotFound(f"no team {scope.scope_id!r}")
        require(actor, team.project_id, "admin")
        return team.id

    async def grant(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        user = await self.tenancy.get_user(request.path_params["user_id"])
        body = (await read_body(request, RoleGrant)).root
        scope_id = await self._authorise_scope(actor, _scope_of(body))
        membership = await self.tenancy.grant(user.id, body.scope, scope_id, body.role)
        details = {"scope": body.scope, "scope_id": scope_id or None, "role": body.role}
        record(self.services, actor, "role.grant", user.id, details)
        return reply(role_view(membership))

    async def revoke(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        user = await self.tenancy.get_user(request.path_params["user_id"])
        scope = (await read_body(request, RoleScope)).root
        scope_id = await self._authorise_scope(actor, scope)
        await self.tenancy.revoke_role(user.id, scope.scope, scope_id)
        record(self.services, actor, "role.revoke", user.id, {"scope": scope.scope, "scope_id": scope_id or None})
        return reply(Deleted(object="role", id=user.id))

    async def delete(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")  # a user may hold roles in projects the caller cannot see
        user = await self.tenancy.delete_user(request.path_params["user_id"])
        self.services.key_cache.invalidate()  # keys bound to the user went with them
        record(self.services, actor, "user.delete", user.id, {"email": user.email})
        return reply(Deleted(object="user", id=user.id))


def _scope_of(grant: SystemRoleGrant | ProjectRoleGrant | TeamRoleGrant) -> SystemScope | ProjectScope | TeamScope:
    if isinstance(grant, SystemRoleGrant):
        return SystemScope(scope="system")
    if isinstance(grant, ProjectRoleGrant):
        return ProjectScope(scope="project", scope_id=grant.scope_id)
    return TeamScope(scope="team", scope_id=grant.scope_id)


def operations(services: Worker) -> list[Operation]:
    r = UserRoutes(services)
    roles = "/admin/v1/users/{user_id}/roles"
    return [
        Operation(
            "POST",
            "/admin/v1/users",
            "Create a user (system admin or a project admin)",
            "users",
            r.create,
            UserView,
            201,
            UserCreate,
            errors=(400, 401, 403, 409),
        ),
        Operation(
            "GET",
            "/admin/v1/users",
            "List the users the caller can see",
            "users",
            r.list,
            UserList,
            query=page_params("users"),
            errors=(400, 401),
        ),
        Operation("GET", "/admin/v1/users/{user_id}", "Get a user by id or email", "users", r.get, UserView),
        Operation(
            "DELETE",
            "/admin/v1/users/{user_id}",
            "Delete a user, their roles and their keys (system admin)",
            "users",
            r.delete,
            Deleted,
        ),
        Operation(
            "PUT",
            roles,
            "Grant a role (replaces the user's role at that scope)",
            "users",
            r.grant,
            RoleView,
            body=RoleGrant,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "DELETE",
            roles,
            "Remove the user's role at a scope",
            "users",
            r.revoke,
            Deleted,
            body=RoleScope,
            errors=(400, 401, 403, 404),
        ),
    ]
