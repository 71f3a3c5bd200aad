"""``/admin/v1/providers`` and ``/admin/v1/models``: models, providers and their routes stored in the database, for
teams that do not deploy YAML (docs/operations.md, "Models and providers in the database").

System admins only, every change audited. A change is validated in full first, merged with the running config as
every worker will merge it (reload/catalog.py): an invalid one is a 400 naming the field, and nothing changes. It is
then stored and announced; every worker of every replica re-reads the catalog at once (and every
``reload.resync_s`` in any case) and swaps it in as a hot reload.

A provider's secret fields (``api_key``, Bedrock's keys, extra ``headers``) are stored encrypted
(config/secrets.py) and never returned: answers show a hint (the last 4 characters). A ``PUT`` that leaves a secret
field out keeps the stored value; ``null`` removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets as random
from functools import partial
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import Operation, bad_param, read_body, record, reply
from wardgate.api.admin.errors import Conflict
from wardgate.api.admin.schemas import Deleted, View
from wardgate.assemble import Worker
from wardgate.config import ConfigError, Settings
from wardgate.config.secrets import SECRET_KEYS_ENV, SecretBox, SecretsUnavailable
from wardgate.core.errors import InvalidRequest, NotFound
from wardgate.providers import registry
from wardgate.reload.catalog import overlay, provider_type, secret_fields
from wardgate.store.applied_config import announce, config_events_channel, signing_key
from wardgate.store.catalog import CatalogEntry, CatalogStore, absent

MAX_CONFIG_BYTES = 64 * 1024
APPLY_WAIT_S = 5.0  # how long a change's answer waits for this worker to apply it
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")]


class ProviderBody(BaseModel):
    """A provider, as the config file's ``providers.<name>`` would write it (``type`` first)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Name
    config: dict[str, Any]


class ModelBody(BaseModel):
    """A public model and its routes, as the config file's ``models.<name>`` would write it (a list of deployments,
    or a mapping with ``deployments:`` and routing options)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Name
    config: dict[str, Any] | list[Any]


class CatalogView(View):
    object: str  # "provider" or "model"
    name: str
    source: str  # "config" (the file or applied version: read-only here) or "api"
    active: bool  # false: the config defines the same name, which wins
    config: Any
    secrets: dict[str, str] = Field(default_factory=dict)  # secret field -> a hint (its last 4 characters)
    updated_by: str | None = None


class CatalogList(View):
    object: str = "list"
    data: list[CatalogView]


class Rotated(View):
    object: str = "rotation"
    resealed: int


class ProviderTypeView(View):
    object: str = "provider_type"
    name: str  # what a provider's ``type`` names
    wire: str  # the wire format spoken upstream ("openai" for every OpenAI-compatible preset)
    operations: list[str]  # what its adapter serves: chat, completions, embeddings, images …
    description: str


class ProviderTypeList(View):
    object: str = "list"
    data: list[ProviderTypeView]


async def provider_types(request: Request, services: Worker) -> Response:
    """Every provider type this gateway knows (``wardgate providers``), for a client building a provider."""
    (await authenticate(request, services)).require_system("admin")
    data = [
        ProviderTypeView(name=t.name, wire=t.wire, operations=list(t.operations), description=t.description)
        for t in sorted(registry.provider_types().values(), key=lambda t: t.name)
    ]
    return reply(ProviderTypeList(data=data))


def hint(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, dict):
        return ", ".join(sorted(str(k) for k in value)) + " (values hidden)"
    text = str(value)
    return "…" + text[-4:] if len(text) >= 12 else "…"  # a short secret is not half shown


class CatalogRoutes:
    def __init__(self, services: Worker, kind: str) -> None:
        self.services = services
        self.kind = kind
        self.store = CatalogStore(services.engine)

    # --- views ----------------------------------------------------------------------------------------------

    def _base(self, request: Request) -> Settings:
        """The running config without the catalog: what a change merges into."""
        reloader = getattr(request.app.state, "reloader", None)
        base = reloader.base if reloader is not None else None
        return base if base is not None else self.services.settings

    def _config_entries(self, base: Settings) -> dict[str, Any]:
        return dict(base.providers if self.kind == "provider" else base.models)

    def _config_view(self, name: str, entry: Any) -> CatalogView:
        config = entry.model_dump(mode="json", exclude_defaults=True) if isinstance(entry, BaseModel) else entry
        hidden: dict[str, str] = {}
        if self.kind == "provider" and isinstance(entry, BaseModel):
            for field in secret_fields(type(entry)):
                value = getattr(entry, field, None)
                config.pop(field, None)
                if value:
                    hidden[field] = hint(value)
        return CatalogView(object=self.kind, name=name, source="config", active=True, config=config, secrets=hidden)

    def _api_view(self, entry: CatalogEntry, base: Settings, box: SecretBox) -> CatalogView:
        hidden: dict[str, str] = {}
        if entry.secrets is not None:
            try:
                hidden = {k: hint(v) for k, v in box.open(entry.secrets).items() if v}
            except SecretsUnavailable as exc:
                hidden = {"*": str(exc)}
        return CatalogView(
            object=self.kind,
            name=entry.name,
            source="api",
            active=entry.name not in self._config_entries(base),
            config=entry.config,
            secrets=hidden,
            updated_by=entry.updated_by,
        )

    async def _rows(self, request: Request) -> list[CatalogView]:
        base = self._base(request)
        box = SecretBox.of(self.services.settings)
        rows = [self._config_view(name, entry) for name, entry in sorted(self._config_entries(base).items())]
        stored = await self.store.entries()
        rows += [self._api_view(e, base, box) for e in stored if e.kind == self.kind]
        return rows

    async def list_all(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("admin")
        return reply(CatalogList(data=await self._rows(request)))

    async def get(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("admin")
        name = request.path_params["name"]
        found = [r for r in await self._rows(request) if r.name == name]
        if not found:
            raise NotFound(f"no {self.kind} {name[:100]!r}")
        return reply(CatalogList(data=found))

    # --- changes --------------------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name, config = await self._body(request)
        base = self._base(request)
        if name in self._config_entries(base):
            raise Conflict(f"{self.kind} {name!r} is defined in the config file; change it there")
        stored = await self.store.entries()
        if any(e.kind == self.kind and e.name == name for e in stored):
            raise Conflict(f"a {self.kind} named {name!r} already exists")
        box = SecretBox.of(self.services.settings)
        entry = self._entry(name, config, {}, box, actor)
        self._validate(base, [*stored, entry], box, name)
        await self.store.create(entry)
        await self._changed(request, actor, "create", entry)
        return reply(CatalogList(data=[self._api_view(entry, base, box)]), 201)

    async def replace(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        body_name, config = await self._body(request)
        if body_name != name:
            raise bad_param("name", f"must be {name[:100]!r} (the {self.kind} in the path)")
        stored = await self.store.entries()
        old = self._stored(stored, name)
        box = SecretBox.of(self.services.settings)
        kept: dict[str, Any] = {}
        if old.secrets is not None:
            try:
                kept = box.open(old.secrets)
            except SecretsUnavailable:
                kept = {}  # unreadable: only what this body sets is kept
        entry = self._entry(name, config, kept, box, actor)
        base = self._base(request)
        self._validate(base, [e for e in stored if e is not old] + [entry], box, name)
        await self.store.replace(entry)
        await self._changed(request, actor, "replace", entry)
        return reply(CatalogList(data=[self._api_view(entry, base, box)]))

    async def delete(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        stored = await self.store.entries()
        old = self._stored(stored, name)
        box = SecretBox.of(self.services.settings)
        self._validate(self._base(request), [e for e in stored if e is not old], box, name)
        await self.store.delete(self.kind, name)
        await self._changed(request, actor, "delete", old)
        return reply(Deleted(object=self.kind, id=name))

    async def rotate(self, request: Request) -> Response:
        """Re-encrypt every stored provider secret with the first key (after a new key is listed first)."""
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        box = SecretBox.of(self.services.settings)
        count = 0
        for entry in await self.store.entries():
            if entry.secrets is None:
                continue
            try:
                new = box.rotate(entry.secrets)
            except SecretsUnavailable as exc:
                raise InvalidRequest(
                    f"provider {entry.name!r}: its secrets {exc}; nothing more was re-encrypted"
                ) from None
            count += await self.store.reseal(entry.kind, entry.name, entry.secrets, new)
        record(self.services, actor, "provider.secrets.rotate", "providers", {"resealed": count})
        return reply(Rotated(resealed=count))

    # --- helpers --------------------------------------------------------------------------------------------

    async def _body(self, request: Request) -> tuple[str, Any]:
        body = await read_body(request, ProviderBody if self.kind == "provider" else ModelBody)
        assert isinstance(body, ProviderBody | ModelBody)
        try:
            size = len(orjson.dumps(body.config))
        except TypeError:  # orjson stops at 64-bit integers, as the store's JSON and the audit trail do
            raise bad_param("config", "numbers must fit in 64 bits") from None
        if size > MAX_CONFIG_BYTES:
            raise bad_param("config", f"must be at most {MAX_CONFIG_BYTES} bytes as JSON")
        if isinstance(body.config, dict) and "credentials_file" in body.config:
            raise bad_param(
                "config.credentials_file",
                "a file on the gateway's disk can be named only in the config file; store the provider there",
            )
        return body.name, body.config

    def _stored(self, stored: list[CatalogEntry], name: str) -> CatalogEntry:
        for e in stored:
            if e.kind == self.kind and e.name == name:
                return e
        raise NotFound(absent(self.kind, name))

    def _entry(self, name: str, config: Any, kept: dict[str, Any], box: SecretBox, actor: AdminActor) -> CatalogEntry:
        """The row to store: a provider's secret fields leave ``config`` for the sealed ``secrets``."""
        sealed = None
        if self.kind == "provider":
            config = dict(config)
            ptype = provider_type(config)
            fields = secret_fields(ptype) if ptype is not None else frozenset()
            values = {k: v for k, v in kept.items() if k in fields and k not in config}
            values.update({k: config.pop(k) for k in fields if k in config})
            values = {k: v for k, v in values.items() if v is not None}
            if values:
                try:
                    sealed = box.seal(values)
                except SecretsUnavailable:
                    field = sorted(values)[0]
                    raise bad_param(
                        f"config.{field}",
                        f"cannot be stored: no key encrypts provider secrets; set catalog.secret_keys or "
                        f"{SECRET_KEYS_ENV} on every replica",
                    ) from None
        return CatalogEntry(self.kind, name, config, sealed, f"admin:{actor.id}"[:200])

    def _validate(self, base: Settings, entries: list[CatalogEntry], box: SecretBox, name: str) -> None:
        try:
            overlay(base, entries, box, source="the change")
        except ConfigError as exc:
            mine = f"{self.kind}s.{name}"
            first = exc.problems[0].path if exc.problems else ""
            param = (
                "config" + first[len(mine) :] if first == mine or first.startswith((mine + ".", mine + "[")) else first
            )
            raise InvalidRequest(f"invalid {self.kind}; nothing changed:\n{exc}"[:4000], param=param or None) from None

    async def _changed(self, request: Request, actor: AdminActor, action: str, entry: CatalogEntry) -> None:
        services = self.services
        fields = sorted(SecretBox.of(services.settings).open(entry.secrets)) if entry.secrets else []
        details = {"config": entry.config, "secret_fields": fields} if action != "delete" else {}
        record(services, actor, f"{self.kind}.{action}", entry.name, details)
        reloader = getattr(request.app.state, "reloader", None)
        applied = reloader.catalog_changed() if reloader is not None else None
        settings = services.settings
        assert settings.master_key is not None, "validated at load"
        publish = None
        if services.redis is not None and settings.redis is not None:
            publish = partial(services.redis.publish, config_events_channel(settings.redis.key_prefix))
        key = signing_key(settings.master_key.get_secret_value())
        await announce(services.engine, key, publish, "catalog", random.randbelow(2**31))
        if applied is not None:  # answer once this worker serves the change; the others follow their announcement
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(applied), APPLY_WAIT_S)


def operations(services: Worker) -> list[Operation]:
    async def types(request: Request) -> Response:
        return await provider_types(request, services)

    out: list[Operation] = [
        Operation(
            "GET",
            "/admin/v1/provider-types",
            "Every provider type this gateway knows: name, wire format, operations (system admin)",
            "providers",
            types,
            ProviderTypeList,
            errors=(401, 403),
        )
    ]
    for kind, body, path in (("provider", ProviderBody, "providers"), ("model", ModelBody, "models")):
        r = CatalogRoutes(services, kind)
        one = f"/admin/v1/{path}/{{name}}"
        if kind == "provider":
            out.append(
                Operation(
                    "POST",
                    "/admin/v1/providers/rotate",
                    "Re-encrypt every stored provider secret with the first of catalog.secret_keys (system admin)",
                    path,
                    r.rotate,
                    Rotated,
                    errors=(400, 401, 403),
                )
            )
        out += [
            Operation(
                "GET",
                f"/admin/v1/{path}",
                f"Every {kind}: the config's and those stored here; secrets hidden (system admin)",
                path,
                r.list_all,
                CatalogList,
                errors=(401, 403),
            ),
            Operation("GET", one, f"One {kind}; secrets hidden (system admin)", path, r.get, CatalogList),
            Operation(
                "POST",
                f"/admin/v1/{path}",
                f"Store a {kind}; validated first, then applied by every replica without a restart (system admin)",
                path,
                r.create,
                CatalogList,
                201,
                body,
                errors=(400, 401, 403, 409),
            ),
            Operation(
                "PUT",
                one,
                f"Replace a {kind} stored here; secret fields left out are kept (system admin)",
                path,
                r.replace,
                CatalogList,
                body=body,
                errors=(400, 401, 403, 404),
            ),
            Operation(
                "DELETE",
                one,
                f"Delete a {kind} stored here (system admin)",
                path,
                r.delete,
                Deleted,
                errors=(400, 401, 403, 404),
            ),
        ]
    return out
