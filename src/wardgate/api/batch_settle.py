"""Batch settlement: a batch that ended upstream has its output metered into the ledger, with the batch discount,
exactly once across replicas, whether or not a client ever retrieves it.

Two paths reach ``settle``: a client's retrieval (``api/files.py``) and the poller here (``BatchSettler``), which
every ``files.settle_every_s`` asks the provider about the batches on record that are not settled yet. Either takes
the batch's lease in the shared store first (``ProviderObjectStore.claim_settlement``: one statement, so one
claimant across replicas while the lease lives), meters the output line by line as one pipeline call of operation
``batch_output`` charged to the principal that created the batch, then marks the batch settled. A failed metering
gives the lease back for the next round; a replica that dies holding it holds it only for ``LEASE_S``. The ledger
row's id is the batch's (``settlement_id``), so even a lease that ran out mid-way cannot write two rows.

Budgets: the settlement counts against every budget of the creator (the spend happened, it is never refused), so
once a project's batches spend its cap, the next batch (or call) is refused at creation.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from wardgate.api.body import parse_object
from wardgate.core.call import Call
from wardgate.core.errors import WardgateError

if TYPE_CHECKING:
    from wardgate.config.schema import Settings
    from wardgate.core.runtime import Runtime
    from wardgate.providers.files import FileHost
    from wardgate.store.provider_objects import ProviderObject, ProviderObjectStore

log = logging.getLogger("wardgate.api")
ENDED = frozenset({"completed", "expired", "cancelled", "failed"})  # final: no more output will come
LEASE_S = 900.0  # long enough to meter a large output file; a dead replica's claim lapses after it
ROUND_LIMIT = 100  # batches asked about per poller round: bounded work, the oldest first
_MAX_ID = 128


def settlement_id(batch_id: str) -> str:
    """The ledger id of a batch's settlement: the same on every replica, so a row written twice is one row."""
    return hashlib.sha256(f"batch:{batch_id}".encode()).hexdigest()[:24]


def valid_id(value: str) -> bool:
    return 0 < len(value) <= _MAX_ID and value.isascii() and value.isprintable() and "/" not in value


async def settle(
    runtime: Runtime, objects: ProviderObjectStore, batch: ProviderObject, answer: dict[str, Any],
    credential: str | None,
) -> bool:  # fmt: skip
    """Settle ``batch`` if the provider's ``answer`` says it ended; True when this call settled it. The usage is
    charged to the batch's creator when on record, else to the retrieving ``credential`` (rows made before the
    creator was kept)."""
    if batch.settled or answer.get("status") not in ENDED:
        return False
    output = answer.get("output_file_id")
    if batch.principal is None and credential is None:
        return False  # nobody to charge yet: a retrieval by the owner settles it
    if not await objects.claim_settlement(batch.id, LEASE_S):
        return False  # another request (or replica) settles it
    try:
        if isinstance(output, str) and valid_id(output):
            body = {"batch_id": batch.id, "output_file_id": output}
            call = Call(settlement_id(batch.id), "openai", "batch_output", batch.model or "", body, False,
                        credential, perf_counter())  # fmt: skip
            call.principal = batch.principal  # identity keeps a preset principal for a batch's output
            call.provider = batch.provider
            call.batch = True
            await runtime.pipeline.run(call)
        await objects.finish_settlement(batch.id)
    except BaseException:
        log.warning("batch %s: metering its output failed; the next retrieval or round retries", batch.id,
                    exc_info=True)  # fmt: skip
        with contextlib.suppress(Exception):
            await objects.release_settlement(batch.id)
        raise
    return True


async def adopt_outputs(objects: ProviderObjectStore, answer: dict[str, Any], owner: str, provider: str) -> None:
    """The provider's files of a batch (output and errors) are the batch owner's."""
    for name in ("output_file_id", "error_file_id"):
        produced = answer.get(name)
        if isinstance(produced, str) and valid_id(produced) and await objects.get(produced, "file", owner) is None:
            await objects.adopt(produced, "file", owner, provider)


class BatchSettler:
    """One worker's poller: every ``files.settle_every_s`` (0: off) a round over the unsettled batches on record."""

    def __init__(
        self,
        runtime: Callable[[], Runtime],
        objects: Callable[[], ProviderObjectStore],
        settings: Callable[[], Settings],
    ) -> None:
        self._runtime = runtime
        self._objects = objects
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self.settled = 0  # batches this worker settled (tests and logs)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever(), name="batch-settler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _interval(self) -> float:
        files = self._settings().files
        return files.settle_every_s if files is not None else 0.0

    async def _forever(self) -> None:
        while True:
            interval = self._interval()
            if interval <= 0:
                await asyncio.sleep(60.0)  # off (or no files provider): looked at again after a reload
                continue
            await asyncio.sleep(interval)
            try:
                await self.round()
                if self._down:
                    self._down = False
                    log.warning("batch settlement: the store and provider answer again")
            except Exception:
                if not self._down:  # one line per outage
                    self._down = True
                    log.warning("batch settlement: a round failed; retried every %.0f s", interval, exc_info=True)

    async def round(self) -> int:
        """Ask the provider about each unsettled batch; settle those that ended. Returns how many this round
        settled. A batch whose check fails is left for the next round; the others go on."""
        runtime = self._runtime()
        host: FileHost | None = runtime.files  # type: ignore[assignment]
        if host is None:
            return 0
        objects = self._objects()
        settled = 0
        for batch in await objects.unsettled_batches(host.name, ROUND_LIMIT):
            if not valid_id(batch.id):
                continue
            try:
                raw = await host.request("GET", f"/batches/{batch.id}")
                answer = parse_object(raw, "The provider answered with invalid JSON.")
                await adopt_outputs(objects, answer, batch.owner, host.name)
                if await settle(runtime, objects, batch, answer, None):
                    settled += 1
            except WardgateError as exc:
                if exc.status == 404 and await objects.claim_settlement(batch.id, LEASE_S):
                    await objects.finish_settlement(batch.id)  # gone at the provider: nothing left to meter
                    log.warning("batch settlement: batch %s is unknown to the provider; not metered", batch.id)
                    continue
                log.warning("batch settlement: batch %s not settled this round: %s", batch.id, exc)
        self.settled += settled
        return settled
