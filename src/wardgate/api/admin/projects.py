"""Projects, their teams and their agents. Creating or deleting a project takes the system admin role; changing
one, or adding teams and agents to it, its admin role; reading it, any role in it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, can_see, read_body, record, reply, require
from wardgate.api.admin.paging import page_ask, page_params, paginate
from wardgate.api.admin.schemas import (
    AgentCreate,
    AgentList,
    AgentView,
    Deleted,
    ProjectCreate,
    ProjectList,
    ProjectUpdate,
    ProjectView,
    TeamCreate,
    TeamList,
    TeamView,
)
from wardgate.assemble import Worker
from wardgate.core.errors import NotFound
from wardgate.store.tenancy import Agent, Project, Team


def project_view(project: Project) -> ProjectView:
    return ProjectView(
        id=project.id,
        name=project.name,
        cost_center=project.cost_center,
        allowed_models=list(project.allowed_models) if project.allowed_models is not None else None,
        metadata=project.metadata,
        created_at=project.created_at,
    )


def team_view(team: Team) -> TeamView:
    return TeamView(id=team.id, project_id=team.project_id, name=team.name, created_at=team.created_at)


def agent_view(agent: Agent) -> AgentView:
    return AgentView(id=agent.id, project_id=agent.project_id, name=agent.name, created_at=agent.created_at)


class ProjectRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.tenancy = services.tenancy

    async def create(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        body = await read_body(request, ProjectCreate)
        project = await self.tenancy.create_project(
            body.name, cost_center=body.cost_center, allowed_models=body.allowed_models, metadata=body.metadata
        )
        record(self.services, actor, "project.create", project.id, body.model_dump(mode="json"))
        return reply(project_view(project), 201)

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        ask = page_ask(request)
        projects = await self.tenancy.list_projects(actor.visible_projects())
        page, next_cursor = paginate(projects, lambda p: p.id, ask)
        return reply(ProjectList(data=[project_view(p) for p in page], next_cursor=next_cursor))

    async def get(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        project_id = request.path_params["project_id"]
        can_see(actor, project_id)
        return reply(project_view(await self.tenancy.get_project(project_id)))

    async def update(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        project_id = request.path_params["project_id"]
        require(actor, project_id, "admin")
        body = await read_body(request, ProjectUpdate)
        changes = body.model_dump(include=body.model_fields_set)
        if not changes:
            return reply(project_view(await self.tenancy.get_project(project_id)))
        project = await self.tenancy.update_project(project_id, **changes)
        if "allowed_models" in changes:
            self.services.key_cache.invalidate()  # every cached key of the project carries the old allow-list
            await self.services.keys.announce_all()  # and on every other replica
        record(self.services, actor, "project.update", project_id, body.model_dump(mode="json", exclude_unset=True))
        return reply(project_view(project))

    async def delete(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        project_id = request.path_params["project_id"]
        can_see(actor, project_id)
        actor.require_system("admin")
        await self.tenancy.delete_project(project_id)
        self.services.key_cache.invalidate()  # its keys went with it
        await self.services.keys.announce_all()  # and on every other replica
        record(self.services, actor, "project.delete", project_id, {})
        return reply(Deleted(object="project", id=project_id))

    async def create_team(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        project_id = request.path_params["project_id"]
        require(actor, project_id, "admin")
        body = await read_body(request, TeamCreate)
        team = await self.tenancy.create_team(project_id, body.name)
        record(self.services, actor, "team.create", team.id, {"project": project_id, "name": body.name})
        return reply(team_view(team), 201)

    async def list_teams(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        project_id = request.path_params["project_id"]
        can_see(actor, project_id)
        await self.tenancy.get_project(project_id)
        return reply(TeamList(data=[team_view(t) for t in await self.tenancy.list_teams(project_id)]))

    async def delete_team(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        team = await self.tenancy.get_team(request.path_params["team_id"])
        if actor.project_role(team.project_id) is None:
            raise NotFound(f"no team {team.id!r}")
        require(actor, team.project_id, "admin")
        await self.tenancy.delete_team(team.id)
        self.services.key_cache.invalidate()  # keys bound to the team went with it
        await self.services.keys.announce_all()  # and on every other replica
        record(self.services, actor, "team.delete", team.id, {"project": team.project_id, "name": team.name})
        return reply(Deleted(object="team", id=team.id))

    async def create_agent(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        project_id = request.path_params["project_id"]
        require(actor, project_id, "admin")
        body = await read_body(request, AgentCreate)
        agent = await self.tenancy.create_agent(project_id, body.name)
        record(self.services, actor, "agent.create", agent.id, {"project": project_id, "name": body.name})
        return reply(agent_view(agent), 201)

    async def list_agents(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        project_id = request.path_params["project_id"]
        can_see(actor, project_id)
        await self.tenancy.get_project(project_id)
        return reply(AgentList(data=[agent_view(a) for a in await self.tenancy.list_agents(project_id)]))


def operations(services: Worker) -> list[Operation]:
    r = ProjectRoutes(services)
    one = "/admin/v1/projects/{project_id}"
    conflict = (400, 401, 403, 404, 409)
    return [
        Operation(
            "POST",
            "/admin/v1/projects",
            "Create a project (system admin)",
            "projects",
            r.create,
            ProjectView,
            201,
            ProjectCreate,
            errors=(400, 401, 403, 409),
        ),
        Operation(
            "GET",
            "/admin/v1/projects",
            "List the projects the caller can see",
            "projects",
            r.list,
            ProjectList,
            query=page_params("projects"),
            errors=(400, 401),
        ),
        Operation("GET", one, "Get a project", "projects", r.get, ProjectView),
        Operation(
            "PATCH",
            one,
            "Change a project (project admin)",
            "projects",
            r.update,
            ProjectView,
            body=ProjectUpdate,
            errors=conflict,
        ),
        Operation(
            "DELETE",
            one,
            "Delete a project with its teams, agents and keys (system admin)",
            "projects",
            r.delete,
            Deleted,
        ),
        Operation(
            "POST",
            one + "/teams",
            "Create a team (project admin)",
            "teams",
            r.create_team,
            TeamView,
            201,
            TeamCreate,
            errors=conflict,
        ),
        Operation("GET", one + "/teams", "List a project's teams", "teams", r.list_teams, TeamList),
        Operation(
            "DELETE",
            "/admin/v1/teams/{team_id}",
            "Delete a team and its keys (project admin)",
            "teams",
            r.delete_team,
            Deleted,
        ),
        Operation(
            "POST",
            one + "/agents",
            "Register an agent (project admin)",
            "agents",
            r.create_agent,
            AgentView,
            201,
            AgentCreate,
            errors=conflict,
        ),
        Operation("GET", one + "/agents", "List a project's agents", "agents", r.list_agents, AgentList),
    ]
