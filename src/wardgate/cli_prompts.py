"""``wardgate prompts push | promote | approve | reject | rollback | diff``: prompts as code (APIops).

These commands call a running gateway's admin API (``--url``, ``--key``; or ``WARDGATE_URL``, ``WARDGATE_API_KEY``)
rather than the store: approvals need a person, and the key says who. ``push`` is idempotent (a version is the hash
of its content), so CI can push a directory of prompt files on every commit.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

DEFAULT_URL = "http://127.0.0.1:4000"
_VERSION_KEYS = ("messages", "model", "params", "variables", "overrides", "type", "examples", "tools")


def add_commands(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("WARDGATE_URL", DEFAULT_URL), help="the gateway's URL")
    common.add_argument("--key", default=os.environ.get("WARDGATE_API_KEY"), help="a user's key or the master key")
    common.add_argument("--project", help="the prompt's project id (absent: a system-wide prompt)")
    prompts = commands.add_parser("prompts", help="managed prompts, through the admin API").add_subparsers(
        dest="prompts_command", required=True
    )
    push = prompts.add_parser("push", parents=[common], help="push a prompt file, or every *.yaml of a directory")
    push.add_argument("path")
    promote = prompts.add_parser("promote", parents=[common], help="move a label to a version (or ask to)")
    promote.add_argument("name")
    promote.add_argument("--label", required=True)
    promote.add_argument("--version", required=True, help="a version id or number")
    promote.add_argument("--reason", default="promoted with the CLI")
    for verb in ("approve", "reject"):
        review = prompts.add_parser(verb, parents=[common], help=f"{verb} a pending promotion")
        review.add_argument("id")
        review.add_argument("--reason")
    rollback = prompts.add_parser("rollback", parents=[common], help="point a label back")
    rollback.add_argument("name")
    rollback.add_argument("--label", required=True)
    rollback.add_argument("--to", help="a version id or number (absent: the label's previous version)")
    rollback.add_argument("--reason", default="rolled back with the CLI")
    diff = prompts.add_parser("diff", parents=[common], help="a unified diff of two versions")
    diff.add_argument("name")
    diff.add_argument("v1")
    diff.add_argument("v2")


class APIError(Exception):
    pass


class Admin:
    def __init__(self, args: argparse.Namespace) -> None:
        if not args.key:
            raise APIError("give --key (or set WARDGATE_API_KEY): a user's key, or the master key")
        self.url, self.key = args.url.rstrip("/"), args.key
        self.query = f"?project={urllib.parse.quote(args.project)}" if args.project else ""

    def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = ()) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path + (self.query if path.startswith("/admin/v1/prompts/") else ""),
            data=data,
            method=method,
            headers={"authorization": f"Bearer {self.key}", "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the operator's own URL)
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = json.loads(exc.read() or b"null")
            if exc.code in ok:
                return exc.code, payload
            message = payload.get("error", {}).get("message") if isinstance(payload, dict) else None
            raise APIError(f"{method} {path}: {exc.code} {message or exc.reason}") from None
        except urllib.error.URLError as exc:
            raise APIError(f"cannot reach {self.url}: {exc.reason}") from None


def run(args: argparse.Namespace) -> int:
    try:
        api = Admin(args)
        command = args.prompts_command
        if command == "push":
            return _push(api, Path(args.path), args.project)
        if command == "promote":
            return _promote(api, args)
        if command in ("approve", "reject"):
            _, row = api.call("POST", f"/admin/v1/prompt-promotions/{_q(args.id)}/{command}", {"reason": args.reason})
            print(f"promotion {row['id']}: {row['status']} ({_approvals(row)} of {row['required']} approvals)")
            return 0
        if command == "rollback":
            to = _version_id(api, args.name, args.to) if args.to else None
            body = {"to": to, "reason": args.reason} if to else {"reason": args.reason}
            _, row = api.call("POST", f"/admin/v1/prompts/{_q(args.name)}/labels/{_q(args.label)}/rollback", body)
            print(f"{args.name}@{row['label']} → {row['version']} (was {row['previous']})")
            return 0
        return _diff(api, args.name, args.v1, args.v2)
    except (APIError, OSError, yaml.YAMLError, ValueError) as exc:
        print(f"wardgate: {exc}", file=sys.stderr)
        return 1


def _push(api: Admin, path: Path, project: str | None) -> int:
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
    for file in files:
        doc = yaml.safe_load(file.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
            raise ValueError(f"{file}: a prompt file is a mapping with `name` and `messages`")
        name = doc["name"]
        owner = doc.get("project", project)
        create = {"name": name, **({"project": owner} if owner else {}), **_only(doc, ("description",))}
        api.call("POST", "/admin/v1/prompts", create, ok=(409,))
        status, row = api.call("POST", f"/admin/v1/prompts/{_q(name)}/versions", _only(doc, _VERSION_KEYS))
        state = "created" if status == 201 else "unchanged"
        print(f"{file}: {name} version {row['number']} {row['id']} ({state})")
    return 0


def _promote(api: Admin, args: argparse.Namespace) -> int:
    body = {"label": args.label, "version": _version_id(api, args.name, args.version), "reason": args.reason}
    _, row = api.call("POST", f"/admin/v1/prompts/{_q(args.name)}/promotions", body)
    if row["status"] == "pending":
        print(f"promotion {row['id']}: pending, needs {row['required']} approvals (wardgate prompts approve ID)")
    else:
        print(f"promotion {row['id']}: {row['status']}: {args.name}@{args.label} → {row['version']}")
    return 0


def _diff(api: Admin, name: str, v1: str, v2: str) -> int:
    texts = []
    for ref in (v1, v2):
        _, row = api.call("GET", f"/admin/v1/prompts/{_q(name)}/versions/{_q(ref)}")
        spec = {k: row.get(k) for k in _VERSION_KEYS if row.get(k) not in (None, {}, [])}
        if spec.get("type") == "chat":  # the default: shown only when a version is a text prompt
            del spec["type"]
        texts.append(
            (
                f"{name}@{row['number']} ({row['id'][:12]})",
                yaml.safe_dump(spec, sort_keys=True, width=10**6, allow_unicode=True),
            )
        )
    (a_name, a), (b_name, b) = texts
    sys.stdout.writelines(difflib.unified_diff(a.splitlines(True), b.splitlines(True), a_name, b_name))
    return 0


def _version_id(api: Admin, name: str, ref: str) -> str:
    if len(ref) == 64:
        return ref
    _, row = api.call("GET", f"/admin/v1/prompts/{_q(name)}/versions/{_q(ref)}")
    return str(row["id"])


def _only(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: doc[k] for k in keys if doc.get(k) is not None}


def _approvals(row: dict[str, Any]) -> int:
    return sum(1 for a in row.get("approvals", []) if a["decision"] == "approve")


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")
