"""Allowed key uses, counted between audit flushes and written as one audit row per key and model.

``key_use_audit: all`` used to write one hash-chained audit row per request: an HMAC, a JSON document and a random
entry in the trail's unique hash index for every call, beside the ledger row that already records who called which
model. Now each flush of the audit writer takes one ``key.use.allowed`` row per (key, model) seen since the last
flush, with the number of uses and the first and last time: every use is still counted in the tamper-evident trail,
and the ledger keeps the row per request. Denied uses stay one row each.

Bounded whatever clients send: a model name is cut to 200 characters, and past ``MAX_GROUPS`` distinct pairs in one
interval further uses are counted under the key with ``"model": null``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from wardgate.store.audit import AuditEntry

MAX_GROUPS = 10_000
_MAX_MODEL = 200


class _Group:
    __slots__ = ("first", "last", "uses")

    def __init__(self, now: datetime) -> None:
        self.uses = 1
        self.first = self.last = now


class KeyUseTally:
    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str | None], _Group] = {}

    def add(self, key_id: str, model: str | None) -> None:
        group = (key_id, model[:_MAX_MODEL] if model is not None else None)
        now = datetime.now(UTC)
        found = self._groups.get(group)
        if found is None and len(self._groups) >= MAX_GROUPS:
            group = (key_id, None)
            found = self._groups.get(group)
        if found is None:
            self._groups[group] = _Group(now)
        else:
            found.uses += 1
            found.last = now

    def drain(self) -> list[AuditEntry]:
        """The rows for everything counted since the last call (and forget it)."""
        if not self._groups:
            return []
        groups, self._groups = self._groups, {}
        return [
            AuditEntry(
                f"key:{key_id}",
                "key.use.allowed",
                key_id,
                {"model": model, "uses": g.uses, "first": g.first.isoformat(), "last": g.last.isoformat()},
                g.last,
            )
            for (key_id, model), g in groups.items()
        ]
