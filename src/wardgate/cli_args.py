"""The arguments of the store commands (keys, projects, teams, users, usage, db, audit, export): parsed without
importing what runs them, so `wardgate serve` and `wardgate config check` start fast; cli_admin.py runs them."""

from __future__ import annotations

import argparse
from typing import Any

COMMANDS = ("keys", "projects", "teams", "users", "usage", "db", "audit", "export")


def add_commands(commands: Any) -> None:
    """Register the subcommands on ``wardgate``'s subparsers."""
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", help="config file (YAML) naming the store; default: $WARDGATE_CONFIG")

    keys = commands.add_parser("keys", help="virtual API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", parents=[config], help="create a key and print it (once)")
    create.add_argument("--project", required=True, help="project id or name")
    create.add_argument("--team", help="team id or name (within the project)")
    create.add_argument("--user", help="user id or email")
    create.add_argument("--agent", help="agent id or name (within the project)")
    create.add_argument("--models", help="comma-separated allow-list (default: the project's)")
    create.add_argument("--expires", help="30d, 12h, or an ISO date/time (default: never)")
    create.add_argument("--name", help="a label for the key")
    create.add_argument("--key", help="import this existing key (sk-wg- and ≥ 32 characters) instead of a new one")
    listing = keys.add_parser("list", parents=[config], help="list keys (prefixes only)")
    listing.add_argument("--project", help="only this project (id or name)")
    revoke = keys.add_parser("revoke", parents=[config], help="revoke a key")
    revoke.add_argument("id")
    rotate = keys.add_parser("rotate", parents=[config], help="replace a key; the old one works for --overlap")
    rotate.add_argument("id")
    rotate.add_argument("--overlap", default="24h", help="how long the old key keeps working (default 24h; 0h: none)")

    projects = commands.add_parser("projects", help="projects").add_subparsers(dest="projects_command", required=True)
    new_project = projects.add_parser("create", parents=[config], help="create a project")
    new_project.add_argument("name")
    new_project.add_argument("--cost-center", help="the cost centre chargeback reports name")
    projects.add_parser("list", parents=[config], help="list projects")

    teams = commands.add_parser("teams", help="a project's teams").add_subparsers(dest="teams_command", required=True)
    new_team = teams.add_parser("create", parents=[config], help="create a team in a project")
    new_team.add_argument("project", help="project id or name")
    new_team.add_argument("name")
    team_list = teams.add_parser("list", parents=[config], help="list a project's teams")
    team_list.add_argument("project", help="project id or name")
    team_delete = teams.add_parser("delete", parents=[config], help="delete a team (its keys go with it)")
    team_delete.add_argument("project", help="project id or name")
    team_delete.add_argument("team", help="team id or name")

    users = commands.add_parser("users", help="users").add_subparsers(dest="users_command", required=True)
    new_user = users.add_parser("create", parents=[config], help="create a user")
    new_user.add_argument("email")
    new_user.add_argument("--name", help="display name")
    users.add_parser("list", parents=[config], help="list users")
    user_delete = users.add_parser("delete", parents=[config], help="delete a user (their keys and roles go too)")
    user_delete.add_argument("user", help="user id or email")

    usage = commands.add_parser("usage", parents=[config], help="spend and tokens from the ledger over a period")
    usage.add_argument(
        "--by",
        default="project",
        help="comma-separated grouping: project, team, key, model (also user, deployment, provider, day, month)",
    )
    usage.add_argument("--since", default="30d", help="a span back from now (30d, 12h) or an ISO date (default 30d)")
    usage.add_argument("--until", help="an ISO date/time (default: now)")
    usage.add_argument("--project", help="only this project (id or name)")
    usage.add_argument("--format", choices=["table", "csv", "json"], default="table")
    usage.set_defaults(usage_command="report")

    db = commands.add_parser("db", help="the store").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", parents=[config], help="bring the store's schema to the newest migration")

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    verify = audit.add_parser(
        "verify", parents=[config], help="check the chain and its checkpoints; list every problem, exit 1 if any"
    )
    verify.add_argument("--checkpoints", help="also check against checkpoints exported earlier (a file, JSON lines)")
    checkpoint = audit.add_parser("checkpoint", help="signed heads of the chain").add_subparsers(
        dest="checkpoint_command", required=True
    )
    export_checkpoints = checkpoint.add_parser(
        "export", parents=[config], help="sign the current head, then write every checkpoint (JSON lines)"
    )
    export_checkpoints.add_argument("--output", help="file to write (default: stdout)")

    export = commands.add_parser("export", help="reports").add_subparsers(dest="export_command", required=True)
    chargeback = export.add_parser("chargeback", parents=[config], help="cost per project and model for a month")
    chargeback.add_argument("--month", required=True, help="calendar month in UTC, e.g. 2026-11")
    chargeback.add_argument("--format", choices=["csv", "parquet"], default="csv")
    chargeback.add_argument("--output", help="file to write (default: stdout; parquet needs a file)")
