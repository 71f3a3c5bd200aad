"""MCP servers and virtual servers made in the admin API, merged with the config file's (decision 057). Pure: no
I/O, no SDK.

A server's secrets (its ``headers`` and ``env`` values, its OAuth ``client_secret``) are stored apart from the rest
of its entry, sealed with the catalog's keys (config/secrets.py), and never shown: the admin API and the audit trail
see ``masked()`` views. Database values are never ``${VAR}``-interpolated (as for the catalog's providers): an admin
cannot read the gateway's environment through an upstream's headers.

Precedence: the config file wins. The admin API refuses a name the file defines; if the file gains it later, the
stored entry is skipped with a warning. A stored entry that no longer validates (a damaged row, secrets no key
opens, a virtual server naming a server that is gone) is skipped with a warning; the others apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from wardgate.config.mcp import MCPConfig, MCPServerConfig, StdioServerConfig, VirtualServerConfig
from wardgate.config.secrets import SecretBox, SecretsUnavailable

log = logging.getLogger("wardgate.mcp")
SERVER = TypeAdapter[MCPServerConfig](MCPServerConfig)
SECRET_MAPS = ("headers", "env")  # every value of these is secret (an Authorization header, a token in env)


@dataclass(slots=True)
class Effective:
    """What a worker serves: the config file's servers and virtual servers, then the admin API's."""

    servers: dict[str, MCPServerConfig] = field(default_factory=dict)
    virtual: dict[str, VirtualServerConfig] = field(default_factory=dict)
    source: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) → "config" | "api"


def secrets_of(config: BaseModel) -> dict[str, Any]:
    """The values of a server that are stored sealed: ``headers``, ``env`` and ``oauth.client_secret``."""
    out: dict[str, Any] = {}
    for name in SECRET_MAPS:
        values = getattr(config, name, None)
        if values:
            out[name] = dict(values)
    oauth = getattr(config, "oauth", None)
    if oauth is not None and oauth.client_secret is not None:
        out["oauth.client_secret"] = oauth.client_secret.get_secret_value()
    return out


def public_of(config: BaseModel) -> dict[str, Any]:
    """The entry as the config file would write it, without its secrets (what the store's ``config`` holds)."""
    out = config.model_dump(mode="json", exclude_defaults=True)
    for name in SECRET_MAPS:
        out.pop(name, None)
    if isinstance(out.get("oauth"), dict):
        out["oauth"].pop("client_secret", None)
    return out


def joined(public: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(public)
    for name in SECRET_MAPS:
        if name in secrets:
            out[name] = secrets[name]
    if "oauth.client_secret" in secrets and isinstance(out.get("oauth"), dict):
        out["oauth"] = {**out["oauth"], "client_secret": secrets["oauth.client_secret"]}
    return out


def hint(value: Any) -> str:
    """A secret as shown: its last four characters when it is long enough not to be half shown."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return "…" + text[-4:] if len(text) >= 12 else "…"


def is_hint(value: Any) -> bool:
    """Whether a value reads as ``hint`` shows a secret (what a client that PUTs back a GET's config sends)."""
    return isinstance(value, str) and value.startswith("…") and len(value) in (1, 5)


class MaskedSecret(ValueError):
    """A body sends a masked value (``…1234``) where no stored secret it stands for exists."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def with_kept_secrets(body: dict[str, Any], kept: Mapping[str, Any]) -> dict[str, Any]:
    """A PUT body (a server entry, as JSON) with the stored secrets (``kept``, as ``secrets_of`` gives them) it
    leaves out or sends masked, as the catalog keeps a provider's: a ``headers`` or ``env`` map left out is kept
    whole, one of its values sent as its hint keeps that value (the other keys are the body's), and an OAuth
    ``client_secret`` left out of a body's ``oauth`` (or sent as its hint) is kept. ``{}`` or ``null`` removes.
    Raises MaskedSecret for a hint that stands for no stored value."""
    out = dict(body)
    transport = out.get("transport")
    for name in ("env",) if transport == "stdio" else ("headers",):  # the maps the body's transport has
        stored = kept.get(name)
        stored = stored if isinstance(stored, dict) else {}
        if name not in out:
            if stored:
                out[name] = dict(stored)
            continue
        values = out[name]
        if isinstance(values, dict):
            out[name] = {key: _unmasked(f"{name}.{key}", value, stored.get(key)) for key, value in values.items()}
    oauth = out.get("oauth")
    if transport != "stdio" and isinstance(oauth, dict):
        secret = kept.get("oauth.client_secret")
        if "client_secret" not in oauth:
            if secret is not None:
                out["oauth"] = {**oauth, "client_secret": secret}
        else:
            out["oauth"] = {**oauth, "client_secret": _unmasked("oauth.client_secret", oauth["client_secret"], secret)}
    return out


def _unmasked(path: str, value: Any, stored: Any) -> Any:
    if not is_hint(value):
        return value
    if stored is None or hint(stored) != value:
        raise MaskedSecret(path)
    return stored


def masked(config: BaseModel) -> dict[str, Any]:
    """A server or virtual server as the admin API shows it and the audit trail records it: header and env values,
    and the OAuth client secret, as hints; a URL's query and a command's arguments elided."""
    out = public_of(config)
    if isinstance(out.get("url"), str) and "?" in out["url"]:  # a query may carry a key (?api_key=…)
        out["url"] = out["url"].split("?", 1)[0] + "?…"
    if isinstance(out.get("command"), list):  # so may a command's arguments (--token …): the program is shown
        out["command"] = [out["command"][0], *("…" for _ in out["command"][1:])]
    for name, values in secrets_of(config).items():
        if name == "oauth.client_secret":
            out["oauth"] = {**out.get("oauth", {}), "client_secret": hint(values)}
        else:
            out[name] = {k: hint(v) for k, v in values.items()}
    return out


def target(config: MCPServerConfig) -> str:
    return config.command[0] if isinstance(config, StdioServerConfig) else config.url.split("?", 1)[0]


def effective(file: MCPConfig, entries: Iterable[Any], box: SecretBox) -> Effective:
    """The config file's objects, then each stored one that still validates (``entries``: store/mcp_servers.py's
    rows, with ``kind``, ``name``, ``config`` and ``secrets``)."""
    out = Effective(dict(file.servers), dict(file.virtual_servers))
    out.source = {("server", n): "config" for n in file.servers} | {
        ("virtual_server", n): "config" for n in file.virtual_servers
    }
    rows = list(entries)
    for row in (r for r in rows if r.kind == "server"):
        if row.name in out.servers:
            _skip(row, "the config file defines that name")
            continue
        try:
            secrets = box.open(row.secrets) if row.secrets is not None else {}
            if not isinstance(row.config, dict):
                raise ValueError("the row is damaged")
            out.servers[row.name] = SERVER.validate_python(joined(row.config, secrets))
        except (SecretsUnavailable, ValidationError, ValueError) as exc:
            _skip(row, str(exc).splitlines()[0])
            continue
        out.source[("server", row.name)] = "api"
    for row in (r for r in rows if r.kind == "virtual_server"):
        if row.name in out.virtual:
            _skip(row, "the config file defines that name")
            continue
        try:
            virtual = VirtualServerConfig.model_validate(row.config)
        except ValidationError as exc:
            _skip(row, str(exc).splitlines()[0])
            continue
        unknown = [s for s in virtual.servers if s not in out.servers]
        if unknown:
            _skip(row, f"its servers {', '.join(unknown)} do not exist")
            continue
        out.virtual[row.name] = virtual
        out.source[("virtual_server", row.name)] = "api"
    return out


def _skip(row: Any, why: str) -> None:
    log.warning("MCP %s %r from the admin API skipped: %s", row.kind.replace("_", " "), row.name, why[:300])
