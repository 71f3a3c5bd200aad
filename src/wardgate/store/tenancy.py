"""Projects, teams, users, agents and role memberships (System → Project → Team → User)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, new_id, now
from wardgate.store.tables import agents, memberships, projects, teams, users

Role = Literal["admin", "member", "viewer"]
ScopeKind = Literal["system", "project", "team"]
ROLES: tuple[Role, ...] = ("admin", "member", "viewer")


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    cost_center: str | None
    allowed_models: tuple[str, ...] | None
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    project_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    project_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    user_id: str
    scope_kind: ScopeKind
    scope_id: str
    role: Role


def _project(row: Any) -> Project:
    models = row.allowed_models
    return Project(
        row.id,
        row.name,
        row.cost_center,
        tuple(models) if models is not None else None,
        dict(row.metadata or {}),
        row.created_at,
    )


class TenancyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # projects
    async def create_project(
        self,
        name: str,
        *,
        cost_center: str | None = None,
        allowed_models: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> Project:
        project = Project(
            id or new_id("prj"),
            name,
            cost_center,
            tuple(allowed_models) if allowed_models is not None else None,
            metadata or {},
            now(),
        )
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    projects.insert().values(
                        id=project.id,
                        name=name,
                        cost_center=cost_center,
                        allowed_models=list(allowed_models) if allowed_models is not None else None,
                        metadata=project.metadata,
                        created_at=project.created_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"a project named {name!r} already exists") from exc
        return project

    async def get_project(self, project_id: str) -> Project:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(projects).where(projects.c.id == project_id))).first()
        if row is None:
            raise NotFoundInStore(f"no project {project_id!r}")
        return _project(row)

    async def find_project(self, id_or_name: str) -> Project:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(projects).where((projects.c.id == id_or_name) | (projects.c.name == id_or_name))
                )
            ).first()
        if row is None:
            raise NotFoundInStore(f"no project {id_or_name!r}")
        return _project(row)

    async def list_projects(self, ids: Sequence[str] | None = None) -> list[Project]:
        query = select(projects).order_by(projects.c.created_at, projects.c.id)
        if ids is not None:
            query = query.where(projects.c.id.in_(list(ids)))
        async with self.engine.connect() as conn:
            return [_project(r) for r in (await conn.execute(query))]

    async def update_project(self, project_id: str, **values: Any) -> Project:
        allowed = {"name", "cost_center", "allowed_models", "metadata"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "allowed_models" in values and values["allowed_models"] is not None:
            values["allowed_models"] = list(values["allowed_models"])
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(projects.update().where(projects.c.id == project_id).values(**values))
        except IntegrityError as exc:
            raise Conflict(f"a project named {values.get('name')!r} already exists") from exc
        if result.rowcount == 0:
            raise NotFoundInStore(f"no project {project_id!r}")
        return await self.get_project(project_id)

    async def delete_project(self, project_id: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(projects).where(projects.c.id == project_id))
        if result.rowcount == 0:
            raise NotFoundInStore(f"no project {project_id!r}")

    # teams
    async def create_team(self, project_id: str, name: str, *, id: str | None = None) -> Team:
        await self.get_project(project_id)
        team = Team(id or new_id("team"), project_id, name, now())
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    teams.insert().values(id=team.id, project_id=project_id, name=name, created_at=team.created_at)
                )
        except IntegrityError as exc:
            raise Conflict(f"project {project_id!r} already has a team named {name!r}") from exc
        return team

    async def get_team(self, team_id: str) -> Team:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(teams).where(teams.c.id == team_id))).first()
        if row is None:
            raise NotFoundInStore(f"no team {team_id!r}")
        return Team(row.id, row.project_id, row.name, row.created_at)

    async def find_team(self, project_id: str, id_or_name: str) -> Team:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(teams).where(
                        (teams.c.project_id == project_id) & ((teams.c.id == id_or_name) | (teams.c.name == id_or_name))
                    )
                )
            ).first()
        if row is None:
            raise NotFoundInStore(f"project {project_id!r} has no team {id_or_name!r}")
        return Team(row.id, row.project_id, row.name, row.created_at)

    async def list_teams(self, project_id: str) -> list[Team]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(teams).where(teams.c.project_id == project_id).order_by(teams.c.name))
            return [Team(r.id, r.project_id, r.name, r.created_at) for r in rows]

    async def delete_team(self, team_id: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(teams).where(teams.c.id == team_id))
        if result.rowcount == 0:
            raise NotFoundInStore(f"no team {team_id!r}")

    # users
    async def create_user(self, email: str, *, name: str | None = None, id: str | None = None) -> User:
        user = User(id or new_id("usr"), email, name, now())
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    users.insert().values(id=user.id, email=email, name=name, created_at=user.created_at)
                )
        except IntegrityError as exc:
            raise Conflict(f"a user with email {email!r} already exists") from exc
        return user

    async def get_user(self, user_id: str) -> User:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(users).where((users.c.id == user_id) | (users.c.email == user_id)))
            ).first()
        if row is None:
            raise NotFoundInStore(f"no user {user_id!r}")
        return User(row.id, row.email, row.name, row.created_at)

    async def list_users(self, ids: Sequence[str] | None = None) -> list[User]:
        query = select(users).order_by(users.c.email)
        if ids is not None:
            query = query.where(users.c.id.in_(list(ids)))
        async with self.engine.connect() as conn:
            return [User(r.id, r.email, r.name, r.created_at) for r in await conn.execute(query)]

    async def delete_user(self, user_id: str) -> User:
        """Delete a user by id or email; their roles and the keys bound to them go with them."""
        user = await self.get_user(user_id)
        async with self.engine.begin() as conn:
            await conn.execute(delete(users).where(users.c.id == user.id))
        return user

    # agents
    async def create_agent(self, project_id: str, name: str, *, id: str | None = None) -> Agent:
        await self.get_project(project_id)
        agent = Agent(id or new_id("agt"), project_id, name, now())
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    agents.insert().values(id=agent.id, project_id=project_id, name=name, created_at=agent.created_at)
                )
        except IntegrityError as exc:
            raise Conflict(f"project {project_id!r} already has an agent named {name!r}") from exc
        return agent

    async def list_agents(self, project_id: str) -> list[Agent]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(agents).where(agents.c.project_id == project_id).order_by(agents.c.name))
            return [Agent(r.id, r.project_id, r.name, r.created_at) for r in rows]

    # roles
    async def grant(self, user_id: str, scope_kind: ScopeKind, scope_id: str, role: Role) -> Membership:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        await self.get_user(user_id)
        if scope_kind == "project":
            await self.get_project(scope_id)
        elif scope_kind == "team":
            await self.get_team(scope_id)
        else:
            scope_id = ""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(memberships).where(
                    (memberships.c.user_id == user_id)
                    & (memberships.c.scope_kind == scope_kind)
                    & (memberships.c.scope_id == scope_id)
                )
            )
            await conn.execute(
                memberships.insert().values(user_id=user_id, scope_kind=scope_kind, scope_id=scope_id, role=role)
            )
        return Membership(user_id, scope_kind, scope_id, role)

    async def revoke_role(self, user_id: str, scope_kind: ScopeKind, scope_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(memberships).where(
                    (memberships.c.user_id == user_id)
                    & (memberships.c.scope_kind == scope_kind)
                    & (memberships.c.scope_id == (scope_id if scope_kind != "system" else ""))
                )
            )

    async def memberships_of(self, user_id: str) -> list[Membership]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(memberships).where(memberships.c.user_id == user_id))
            return [Membership(r.user_id, r.scope_kind, r.scope_id, r.role) for r in rows]
