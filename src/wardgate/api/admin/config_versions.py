"""``/admin/v1/config/versions``: the config applied to the running cluster (docs/hot-deploy.md).

``POST`` is ``wardgate config apply`` over HTTP: the YAML is validated in full first (an invalid one is a 400 that
lists every problem with its key and fix, and nothing changes), then stored as the newest version and announced to
every worker of every replica. ``GET`` lists the versions, newest first, without their text (a file may hold
secrets written literally).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, bad_param, read_body, record, reply
from wardgate.api.admin.schemas import View
from wardgate.assemble import Worker
from wardgate.config import ConfigError, load_config_text
from wardgate.store.applied_config import AppliedConfigStore, config_events_channel, signing_key

MAX_YAML = 1024 * 1024


class ConfigApply(BaseModel):
    """A whole config file, as YAML; its store, redis and master_key must be the running cluster's."""

    model_config = ConfigDict(extra="forbid", strict=True)
    yaml: str = Field(min_length=1, max_length=MAX_YAML)


class ConfigVersionView(View):
    object: Literal["config_version"] = "config_version"
    version: int
    sha256: str
    actor: str
    applied_at: datetime | None = None


class ConfigVersionList(View):
    object: Literal["list"] = "list"
    data: list[ConfigVersionView]


class ConfigRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.store = AppliedConfigStore(services.engine)

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("viewer")
        rows = await self.store.versions()
        data = [ConfigVersionView(version=v, sha256=sha, actor=who, applied_at=at) for v, sha, who, at in rows]
        return reply(ConfigVersionList(data=data))

    async def apply(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        body = await read_body(request, ConfigApply)
        if _has_alias(body.yaml):  # a few aliases can make a structure whose walk never ends ("billion laughs")
            raise bad_param("yaml", "YAML anchors and aliases are not accepted here; write the values out")
        try:
            settings = load_config_text(body.yaml, source="yaml")
        except ConfigError as exc:
            raise bad_param("yaml", f"invalid config; nothing applied:\n{exc}"[:4000]) from None
        running = self.services.settings
        if settings.store != running.store or settings.redis != running.redis:
            raise bad_param("yaml", "store and redis must be the running cluster's (they need a restart to change)")
        assert running.master_key is not None, "validated at load"
        key = signing_key(running.master_key.get_secret_value())
        publish = None
        if self.services.redis is not None and running.redis is not None:
            publish = partial(self.services.redis.publish, config_events_channel(running.redis.key_prefix))
        version = await self.store.apply(body.yaml, f"admin:{actor.id}"[:200], key, publish)
        record(self.services, actor, "config.apply", str(version), {"version": version})
        latest = await self.store.latest()
        sha = latest.sha256 if latest is not None else ""
        return reply(ConfigVersionView(version=version, sha256=sha, actor=f"admin:{actor.id}"[:200]), 201)


def _has_alias(text: str) -> bool:
    """One linear pass over the YAML's events; a syntax error is left for the loader to report."""
    try:
        return any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return False


def operations(services: Worker) -> list[Operation]:
    r = ConfigRoutes(services)
    return [
        Operation(
            "GET",
            "/admin/v1/config/versions",
            "The config versions applied to the cluster, newest first (system viewer)",
            "config",
            r.list,
            ConfigVersionList,
            errors=(401, 403),
        ),
        Operation(
            "POST",
            "/admin/v1/config/versions",
            "Validate a config and apply it to every replica without a restart (system admin)",
            "config",
            r.apply,
            ConfigVersionView,
            status=201,
            body=ConfigApply,
            errors=(400, 401, 403),
        ),
    ]
