"""``wardgate teams …`` and ``wardgate users …``: the same create, list and delete as the admin API's routes."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.cli_common import can_record, record, table, when
from wardgate.store.tenancy import TenancyStore


async def teams_create(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    tenancy = TenancyStore(engine)
    project = await tenancy.find_project(args.project)
    team = await tenancy.create_team(project.id, args.name)
    await record(engine, "team.create", team.id, {"project": project.id, "name": team.name}, args.audit_key)
    print(f"{team.id}  {team.name}  (project {project.id} {project.name})")
    return 0


async def teams_list(engine: AsyncEngine, args: argparse.Namespace) -> int:
    tenancy = TenancyStore(engine)
    project = await tenancy.find_project(args.project)
    rows = [(t.id, t.name, when(t.created_at)) for t in await tenancy.list_teams(project.id)]
    table(("id", "name", "created"), rows)
    return 0


async def teams_delete(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    tenancy = TenancyStore(engine)
    project = await tenancy.find_project(args.project)
    team = await tenancy.find_team(project.id, args.team)
    await tenancy.delete_team(team.id)
    await record(engine, "team.delete", team.id, {"project": project.id, "name": team.name}, args.audit_key)
    print(f"deleted team {team.id} ({team.name}); its keys stop working within the key cache TTL (1 s by default)")
    return 0


async def users_create(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    user = await TenancyStore(engine).create_user(args.email, name=args.name)
    await record(engine, "user.create", user.id, {"email": user.email, "name": user.name}, args.audit_key)
    print(f"{user.id}  {user.email}")
    return 0


async def users_list(engine: AsyncEngine, args: argparse.Namespace) -> int:
    rows = [(u.id, u.email, u.name or "", when(u.created_at)) for u in await TenancyStore(engine).list_users()]
    table(("id", "email", "name", "created"), rows)
    return 0


async def users_delete(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    user = await TenancyStore(engine).delete_user(args.user)
    await record(engine, "user.delete", user.id, {"email": user.email}, args.audit_key)
    print(f"deleted user {user.id} ({user.email}); their roles and keys went with them")
    return 0


TENANCY_HANDLERS: dict[tuple[str, str], Callable[[AsyncEngine, argparse.Namespace], Awaitable[int]]] = {
    ("teams", "create"): teams_create,
    ("teams", "list"): teams_list,
    ("teams", "delete"): teams_delete,
    ("users", "create"): users_create,
    ("users", "list"): users_list,
    ("users", "delete"): users_delete,
}
