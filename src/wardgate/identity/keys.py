"""The identity stage: the master key, a virtual key looked up by its hash through a short-lived cache, a JWT from
the configured OIDC issuer (identity/jwt.py), or the client certificate an ingress forwarded (identity/mtls.py).

The cache keeps the hot path off the database (one lookup per key per TTL per worker, single-flight). A revocation
reaches it at once: on the replica that wrote it (``revoked``), and on every other replica through the pushed key
events (identity/key_events.py); ``ttl_s`` (1 s by default) bounds it when no push arrives. While the store is
unreachable, a key the store vouched for within ``stale_s`` is still served, unless it is known to be revoked; any
other key gets 503, never a 401 that would tell a valid client its key is wrong.
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from wardgate.core.batching import BatchWriter
from wardgate.core.call import Call, Result
from wardgate.core.errors import StoreUnavailable, Unauthenticated
from wardgate.core.outage import Outage
from wardgate.core.principal import Principal
from wardgate.identity.key_uses import KeyUseTally
from wardgate.identity.mtls import MTLSIdentity
from wardgate.store.audit import AuditEntry
from wardgate.store.availability import reaching_store, store_outage
from wardgate.store.common import NotFoundInStore
from wardgate.store.keys import KEY_PREFIX, KeyRecord, KeyStore, key_hash
from wardgate.store.tenancy import Project, TenancyStore

if TYPE_CHECKING:  # PyJWT and cryptography load only when identity.jwt is configured (start-up time, memory)
    from wardgate.identity.jwt import JWTVerifier


def looks_like_jwt(credential: str) -> bool:
    """A compact JWS: three base64url parts. (A JWE has five and is not accepted.)"""
    return credential.count(".") == 2


MASTER = Principal(kind="master", id="master")
KeyUseAudit = Literal["all", "denied", "none"]


MAX_ENTRIES = 100_000
MAX_REVOKED = 100_000
MAX_PROJECTS = 10_000  # projects whose shared parts are kept (store rows, not client input; bounded all the same)
NO_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CachedKey:
    """What serving reads of a key's row: the rest of ``KeyRecord`` (prefix, name, creation time, tags, models) is
    either in the principal or never read on a request, and a worker may cache 100,000 keys."""

    id: str
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable_at(self, when: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > when)


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float  # monotonic: fresh until then
    validated: float  # monotonic: when the store last answered for this key
    record: CachedKey | None
    principal: Principal | None


@dataclass(frozen=True, slots=True)
class _ProjectParts:
    """What every key of a project puts in its principal, made once per version of the project row and shared by
    all its cached keys (one copy per key was ~1 KB each)."""

    project: Project
    models: frozenset[str] | None
    metadata: dict[str, Any]


def _parts(project: Project) -> _ProjectParts:
    models = frozenset(project.allowed_models) if project.allowed_models is not None else None
    return _ProjectParts(
        replace(project, id=sys.intern(project.id), name=sys.intern(project.name)), models, _metadata(project)
    )


def _principal(
    record: KeyRecord,
    project_models: frozenset[str] | None,
    project: str,
    project_name: str | None,
    project_metadata: dict[str, Any],
) -> Principal:
    models = project_models
    if record.models is not None:
        models = frozenset(record.models) if project_models is None else frozenset(record.models) & project_models
    return Principal(
        kind="key",
        id=record.id,
        project=project,
        project_name=project_name,
        team=sys.intern(record.team_id) if record.team_id is not None else None,
        user=record.user_id,  # one per user mostly: interning would only grow the interpreter's table
        allowed_models=models,
        tags={str(k): str(v) for k, v in record.tags.items()} if record.tags else NO_TAGS,
        project_metadata=project_metadata,
    )


class KeyCache:
    def __init__(
        self,
        keys: KeyStore,
        tenancy: TenancyStore,
        ttl_s: float = 1.0,
        *,
        stale_s: float = 30.0,
        outage: Outage | None = None,
    ) -> None:
        self.keys = keys
        self.tenancy = tenancy
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self.outage = outage or store_outage()
        # in the order the store answered for them (oldest first): one older than both the TTL and stale_s can
        # serve no one (not fresh, and too old to stand in for the store in an outage), so it is dropped
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._loading: dict[str, asyncio.Future[_Entry]] = {}
        self._revoked: dict[str, None] = {}  # digests known revoked (pushed or written here); insertion-ordered
        self._projects: dict[str, _ProjectParts] = {}  # by project id: the parts its keys' principals share

    async def lookup(self, credential: str) -> _Entry:
        digest = key_hash(credential)
        entry = self._entries.get(digest)
        if entry is not None and entry.expires > time.monotonic():
            return entry
        try:
            return await self._load_shared(digest)
        except StoreUnavailable:
            entry = self._entries.get(digest)  # again: a pushed revocation may have replaced it meanwhile
            if entry is not None and time.monotonic() - entry.validated <= self.stale_s:
                return entry
            raise

    async def _load_shared(self, digest: str) -> _Entry:
        """One store read per key at a time, in a task of its own: a caller that goes away (its client left and its
        request was cancelled) neither cancels the read nor hands its cancellation to the callers waiting on it."""
        pending = self._loading.get(digest)
        if pending is None:
            pending = self._loading[digest] = asyncio.ensure_future(self._load_and_keep(digest))
            pending.add_done_callback(_retrieved)  # every waiter may have left: the error is not "never retrieved"
        return await asyncio.shield(pending)

    async def _load_and_keep(self, digest: str) -> _Entry:
        try:
            entry = self._known_revoked(digest, await self._load(digest))
            entries = self._entries
            entries[digest] = entry
            entries.move_to_end(digest)
            cutoff = entry.validated - max(self.ttl_s, self.stale_s)
            while len(entries) > MAX_ENTRIES or next(iter(entries.values())).validated < cutoff:
                entries.popitem(last=False)
            return entry
        finally:
            del self._loading[digest]

    async def _load(self, digest: str) -> _Entry:
        cached = principal = None
        with reaching_store(self.outage):
            record = await self.keys.by_hash(digest)
            if record is not None:
                try:
                    project = await self.tenancy.get_project(record.project_id)
                except NotFoundInStore:
                    record = None
                else:
                    parts = self._shared(project)
                    shared = parts.project
                    principal = _principal(record, parts.models, shared.id, shared.name, parts.metadata)
                    cached = CachedKey(record.id, record.expires_at, record.revoked_at)
        now = time.monotonic()
        return _Entry(now + self.ttl_s, now, cached, principal)

    def _shared(self, project: Project) -> _ProjectParts:
        """The project's shared parts; made again when the row changed (its new values apply to keys loaded from
        now on, as before)."""
        parts = self._projects.get(project.id)
        if parts is None or parts.project != project:
            if len(self._projects) >= MAX_PROJECTS:
                self._projects.clear()
            parts = self._projects[project.id] = _parts(project)
        return parts

    def _known_revoked(self, digest: str, entry: _Entry) -> _Entry:
        """A load that read the row just before a revocation committed must not bring the key back."""
        record = entry.record
        if digest not in self._revoked or record is None or record.revoked_at is not None:
            return entry
        return replace(entry, record=replace(record, revoked_at=datetime.now(UTC)))

    def revoked(self, digest: str) -> None:
        """A revocation (written here or pushed): refused from now on, even from a stale entry in an outage."""
        if len(self._revoked) >= MAX_REVOKED:  # bounded; the oldest are in the store long since
            del self._revoked[next(iter(self._revoked))]
        self._revoked[digest] = None
        entry = self._entries.get(digest)
        if entry is not None:
            self._entries[digest] = self._known_revoked(digest, entry)

    def changed(self, digest: str) -> None:
        """The key's row changed (expiry, rotation): reload it on its next use."""
        entry = self._entries.get(digest)
        if entry is not None:
            self._entries[digest] = replace(entry, expires=0.0)

    def invalidate(self, digest: str | None = None) -> None:
        if digest is None:
            self._entries.clear()
        else:
            self._entries.pop(digest, None)


class IdentityStage:
    name = "identity"

    def __init__(
        self,
        master_key: str | None,
        cache: KeyCache | None,
        audit: BatchWriter[AuditEntry] | None = None,
        key_use_audit: KeyUseAudit = "all",
        *,
        jwt: JWTVerifier | None = None,
        mtls: MTLSIdentity | None = None,
        key_uses: KeyUseTally | None = None,
    ) -> None:
        self._master = master_key.encode() if master_key else None
        self._cache = cache
        self._audit = audit if key_use_audit != "none" else None
        self._audit_allowed = key_use_audit == "all"
        # allowed uses are counted and written once per key and model per audit flush (identity/key_uses.py)
        self._key_uses = key_uses if self._audit_allowed else None
        self._jwt = jwt
        self.mtls = mtls  # the surface reads its header with ``mtls.read(scope)``

    async def before(self, call: Call) -> Result | None:
        if call.principal is not None and call.operation == "batch_output":
            return None  # a batch settled by the gateway: charged to its creator, kept since creation
        call.principal = await self.authenticate(call.credential, call.model, client_cert=call.client_cert)
        return None

    async def authenticate(
        self, credential: str | None, model: str | None = None, *, client_cert: str | None = None
    ) -> Principal:
        """Master key → virtual key (``sk-wg-``) → JWT (two dots) → the forwarded client certificate, which counts
        only when no bearer credential was sent."""
        if credential is None:
            if client_cert is not None and self.mtls is not None:
                return await self.mtls.authenticate(client_cert)
            raise Unauthenticated(
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>` (or the `x-api-key` header)."
            )
        if self._master is not None and hmac.compare_digest(credential.encode(), self._master):
            return MASTER
        if self._cache is None or not credential.startswith(KEY_PREFIX):
            if self._jwt is not None and looks_like_jwt(credential):
                return await self._jwt.authenticate(credential)
            raise Unauthenticated("Incorrect API key provided.")
        entry = await self._cache.lookup(credential)
        record = entry.record
        now = datetime.now(UTC)
        if record is None or entry.principal is None:
            self._note(credential[:12], "key.use.denied", {"reason": "unknown key"})
            raise Unauthenticated("Incorrect API key provided.")
        if record.revoked_at is not None:
            self._note(record.id, "key.use.denied", {"reason": "revoked", "model": model})
            raise Unauthenticated("This API key has been revoked.")
        if not record.usable_at(now):
            self._note(record.id, "key.use.denied", {"reason": "expired", "model": model})
            raise Unauthenticated(f"This API key expired at {record.expires_at:%Y-%m-%dT%H:%M:%SZ}.")
        if self._key_uses is not None:
            self._key_uses.add(record.id, model)
        elif self._audit_allowed:
            self._note(record.id, "key.use.allowed", {"model": model})
        return entry.principal

    def _note(self, target: str, action: str, details: dict[str, object]) -> None:
        if self._audit is not None and (self._audit_allowed or action != "key.use.allowed"):
            self._audit.put(AuditEntry(f"key:{target}", action, target, details, datetime.now(UTC)))


def _retrieved(task: asyncio.Future[_Entry]) -> None:
    if not task.cancelled():
        task.exception()


def _metadata(project: Project) -> dict[str, Any]:
    """What a managed prompt may read of the caller's project (``project.metadata``, ``project.cost_center``)."""
    return {"metadata": dict(project.metadata), "cost_center": project.cost_center}
