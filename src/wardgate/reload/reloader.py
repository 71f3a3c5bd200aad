"""One worker's hot reload: where a new config comes from, and the rule that an invalid one never serves.

Sources, all funnelled into one task so that two reloads never interleave:
- the config file, when ``wardgate serve --watch`` runs (every ``reload.poll_s``) or on SIGHUP (at once). A changed
  file is applied only once it reads the same on two polls in a row, so a file caught half-written is not even
  validated; SIGHUP means "the file is complete now".
- the models and providers stored in the database (the admin API's ``/admin/v1/models`` and ``/admin/v1/providers``,
  reload/catalog.py), re-read on a ``catalog`` announcement and every ``reload.resync_s``, and merged into whichever
  config is current (the file's or the applied version): the config's own entries win.
- the store's newest applied version (``wardgate config apply FILE``), read when a signed announcement arrives
  (reload/listener.py) and every ``reload.resync_s`` in any case. Once the cluster has an applied version, it is the
  config: the file's later changes are reported and not applied (apply the file to change it).

Every candidate is validated in full (the loader's checks, then the merge with what needs a restart,
reload/plan.py) before anything changes. A rejected one is logged with its source, key and fix, counted, and
remembered, so it is reported once, not on every poll; the running config keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from wardgate.config import ConfigError, Settings, load_config_text
from wardgate.core.outage import Outage
from wardgate.reload.catalog import SOURCE, Catalog, CatalogSource
from wardgate.reload.listener import ConfigEventListener, Subscription
from wardgate.reload.plan import Plan, plan
from wardgate.store.applied_config import AppliedConfigStore, signing_key

log = logging.getLogger("wardgate.reload")
Apply = Callable[[Plan], Awaitable[None]]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ConfigReloader:
    def __init__(
        self,
        *,
        running: Callable[[], Settings],
        apply: Apply,
        store: AppliedConfigStore,
        path: Path | None,
        watch: bool,
        poll_s: float,
        resync_s: float,
        loaded_digest: str | None = None,
        reload_limits: Callable[[], Awaitable[None]] | None = None,
        catalog: CatalogSource | None = None,
    ) -> None:
        self._running = running
        self._catalog_source = catalog
        self._catalog: Catalog | None = None  # the last catalog read (applied or rejected)
        self._check_catalog = False
        self._catalog_waiters: list[asyncio.Future[None]] = []
        self.base: Settings | None = None  # the current config without the catalog: what the catalog merges into
        self._apply = apply
        self._store = store
        self.path = path
        self.watch = watch and path is not None
        self.poll_s = poll_s
        self.resync_s = resync_s
        self._file_digest = loaded_digest  # the file the worker started from
        self._pending: str | None = None  # a changed file seen once: applied if the next poll reads the same
        self._force_file = False  # SIGHUP
        self._check_store = False  # an announcement arrived
        self._check_limits = False
        self._announced_at: float | None = None  # when the announcement being acted on arrived
        self._reload_limits = reload_limits
        self.version: int | None = None  # the store's version this worker has seen (applied or rejected)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = Outage("the config store (running config kept)", log)
        self.reloads = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.decided = asyncio.Event()  # set after each candidate is applied or rejected (tests wait on it)

    # --- triggers (event-loop thread) -------------------------------------------------------------------------

    def poke(self) -> None:
        """SIGHUP: re-read the file now."""
        self._force_file = True
        self._wake.set()

    def announced(self, kind: str, version: int) -> None:
        if kind == "catalog":  # a model or provider changed in the admin API
            self._check_catalog = True
            self._wake.set()
        elif kind == "limits":  # budgets or rate limits changed in the admin API, on another worker or replica
            self._check_limits = True
            self._wake.set()
        elif version != self.version:
            self._check_store = True
            self._announced_at = time.perf_counter()
            self._wake.set()

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Apply the store's newest version, if any, before the worker serves; then watch in the background."""
        self.base = self._running()
        with contextlib.suppress(SQLAlchemyError, OSError):  # the store was reachable a moment ago at start-up
            await self._sync_store()
        if self.path is not None and self.version is None:  # changed since it was loaded (a SIGHUP then is lost)
            await self._sync_file(forced=True)
        with contextlib.suppress(SQLAlchemyError, OSError):
            await self._sync_catalog()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="config-reload")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_resync = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s if self.watch else self.resync_s)
            self._wake.clear()
            try:
                if self._check_limits and self._reload_limits is not None:
                    self._check_limits = False
                    with contextlib.suppress(SQLAlchemyError, OSError):  # the periodic re-read loads them later
                        await self._reload_limits()
                resync = loop.time() - last_resync >= self.resync_s
                if self._check_store or resync:
                    self._check_store = False
                    last_resync = loop.time()
                    try:
                        await self._sync_store()
                    except (SQLAlchemyError, OSError) as exc:
                        self._outage.failed(exc)
                    else:
                        self._outage.recovered()
                if self._check_catalog or resync:
                    self._check_catalog = False
                    waiters, self._catalog_waiters = self._catalog_waiters, []
                    try:
                        await self._sync_catalog()
                    except (SQLAlchemyError, OSError) as exc:
                        self._outage.failed(exc)
                    finally:
                        for waiter in waiters:
                            if not waiter.done():
                                waiter.set_result(None)
                if self.watch or self._force_file:
                    forced, self._force_file = self._force_file, False
                    await self._sync_file(forced)
            except Exception:  # a bug must not end hot reload for this worker
                log.exception("config reload failed; the running config keeps serving")

    # --- sources -----------------------------------------------------------------------------------------------

    async def _sync_file(self, forced: bool) -> None:
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            message = f"{self.path}: cannot read the file ({exc.strerror}); keeping the running config"
            if message != self.last_error:  # once, not on every poll while the file is missing
                self._reject(str(self.path), message)
            return
        seen = digest(data)
        if seen == self._file_digest:
            self._pending = None
            return
        if not forced and seen != self._pending:  # changed since the last poll: wait until it holds still
            self._pending = seen
            return
        self._pending = None
        self._file_digest = seen
        if self.version is not None:
            log.warning(
                "%s changed, but the cluster runs config version %d applied with `wardgate config apply`; "
                "apply the file to change it",
                self.path,
                self.version,
            )
            return
        await self._candidate(data.decode("utf-8", errors="replace"), str(self.path))

    async def _sync_store(self) -> None:
        started, self._announced_at = self._announced_at or time.perf_counter(), None
        latest = await self._store.latest()
        if latest is None or latest.version == self.version:
            return
        self.version = latest.version
        source = f"config version {latest.version} (applied by {latest.actor})"
        await self._candidate(latest.text, source, started)

    def catalog_changed(self) -> asyncio.Future[None]:
        """This worker's admin API changed a model or provider: re-read now (the others are announced). The future
        is done once this worker has read the catalog again (and applied or rejected it)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._catalog_waiters.append(waiter)
        self._check_catalog = True
        self._wake.set()
        return waiter

    async def _sync_catalog(self) -> None:
        if self._catalog_source is None or self.base is None:
            return
        started = time.perf_counter()
        catalog = await self._catalog_source.read()
        if self._catalog is not None and catalog.digest == self._catalog.digest:
            return
        self._catalog = catalog
        await self._consider(self.base, SOURCE, started)

    async def _candidate(self, text: str, source: str, started: float | None = None) -> None:
        try:
            candidate = load_config_text(text, source=source)
        except ConfigError as exc:
            self._reject(source, str(exc))
            return
        await self._consider(candidate, source, started)

    async def _consider(self, candidate: Settings, source: str, started: float | None) -> None:
        """Merge the catalog into ``candidate`` (the config without it), validate, apply."""
        read = time.perf_counter()
        started = read if started is None else started
        try:
            merged = candidate
            if self._catalog is not None and self._catalog_source is not None:
                merged = self._catalog.apply(candidate, self._catalog_source.box)
                shadowed = self._catalog.shadowed(candidate)
                if shadowed:
                    log.warning("%s: the config defines %s; the database's are ignored", SOURCE, ", ".join(shadowed))
            change = plan(self._running(), merged, source)
        except ConfigError as exc:
            self._reject(source, str(exc))
            return
        self.base = candidate
        if change.needs_restart:
            log.warning(
                "%s: %s changed; they take effect at the next restart (the running values are kept)",
                source,
                ", ".join(change.needs_restart),
            )
        if change.empty:
            self.decided.set()
            return
        validated = time.perf_counter()
        await self._apply(change)
        done = time.perf_counter()
        self.reloads += 1
        self.last_error = None
        log.warning(
            "config reloaded from %s: %s (%.0f ms: wait and read %.0f, validate %.0f, rebuild %.0f)",
            source,
            ", ".join(change.changed),
            (done - started) * 1000,
            (read - started) * 1000,
            (validated - read) * 1000,
            (done - validated) * 1000,
        )
        self.decided.set()

    def _reject(self, source: str, message: str) -> None:
        self.rejected += 1
        self.last_error = message
        log.error("config change rejected, the running config keeps serving:\n%s", message)
        self.decided.set()


async def open_reloader(
    settings: Settings,
    running: Callable[[], Settings],
    apply: Apply,
    store: AppliedConfigStore,
    subscription: tuple[Subscription, str] | None,
    *,
    path: Path | None,
    watch: bool,
    loaded_digest: str | None = None,
    reload_limits: Callable[[], Awaitable[None]] | None = None,
    catalog: CatalogSource | None = None,
) -> tuple[ConfigReloader, ConfigEventListener | None]:
    """The worker's reloader, caught up with the store, and its announcement listener (None on SQLite)."""
    reloader = ConfigReloader(
        running=running,
        apply=apply,
        store=store,
        path=path,
        watch=watch,
        poll_s=settings.reload.poll_s,
        resync_s=settings.reload.resync_s,
        loaded_digest=loaded_digest,
        reload_limits=reload_limits,
        catalog=catalog,
    )
    listener = None
    if subscription is not None and settings.master_key is not None:
        subscribe, source = subscription
        key = signing_key(settings.master_key.get_secret_value())
        listener = ConfigEventListener(subscribe, source, key, reloader.announced)
        await listener.start()  # subscribed before the first read: an apply in between is not missed
    await reloader.start()
    return reloader, listener
