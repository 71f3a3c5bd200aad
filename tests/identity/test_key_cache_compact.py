"""What a cached key costs (issue 15, point 2: a worker that sees 100,000 keys keeps RSS flat): its own id, user and
expiry, and nothing per key of what its project gives it. The store answers with a new Project object per read, as
the real one does; the cache shares one set of project parts between the keys of that project version."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from wardgate.identity.keys import NO_TAGS, CachedKey, KeyCache
from wardgate.store.common import NotFoundInStore
from wardgate.store.keys import KeyRecord, key_hash
from wardgate.store.tenancy import Project

NOW = datetime(2026, 12, 7, tzinfo=UTC)


class _Store:
    def __init__(self) -> None:
        self.allowed: tuple[str, ...] | None = ("gpt-a", "gpt-b")
        self.metadata: dict[str, Any] = {"tier": "gold"}

    async def by_hash(self, digest: str) -> KeyRecord | None:
        n = int(digest_to_n[digest])
        tags = {"team": "red"} if n % 100 == 99 else {}
        models = ("gpt-a", "gpt-c") if n % 100 == 98 else None
        return KeyRecord(f"key_{n}", f"sk-wg-{n:06d}", "prj_" + "one", None, f"usr_{n}", None, models, tags,
                         f"key {n}", NOW, None, None, None)  # fmt: skip

    async def get_project(self, project_id: str) -> Project:
        if project_id != "prj_one":
            raise NotFoundInStore(project_id)
        return Project("prj_" + "one", "".join(["so", "ak"]), "cc-1", self.allowed, dict(self.metadata), NOW)


digest_to_n: dict[str, int] = {}


def _cache(store: _Store) -> KeyCache:
    return KeyCache(store, store, stale_s=3600)  # type: ignore[arg-type]


def _reachable(obj: object, seen: set[int]) -> dict[int, object]:
    """The objects (by id) reached from ``obj`` through slots and containers, less those in ``seen``."""
    out: dict[int, object] = {}
    stack = [obj]
    while stack:
        o = stack.pop()
        if o is None or isinstance(o, (bool, type)) or id(o) in seen or id(o) in out:
            continue
        out[id(o)] = o
        if isinstance(o, dict):
            stack += [*o.keys(), *o.values()]
        elif isinstance(o, (tuple, list, frozenset, set)):
            stack += list(o)
        elif hasattr(type(o), "__slots__"):
            stack += [getattr(o, s) for c in type(o).__mro__ for s in getattr(c, "__slots__", ()) if hasattr(o, s)]
    return out


async def test_keys_of_a_project_share_its_parts_and_own_a_fixed_few_objects() -> None:
    store = _Store()
    cache = _cache(store)
    credentials = []
    for n in range(300):
        credential = f"sk-wg-compact{n:06d}"
        digest_to_n[key_hash(credential)] = n
        credentials.append(credential)
    entries = [await cache.lookup(c) for c in credentials]
    plain = [e for i, e in enumerate(entries) if i % 100 < 98]
    first = plain[0].principal
    assert first is not None and first.allowed_models == frozenset({"gpt-a", "gpt-b"})
    for entry in plain:
        p = entry.principal
        assert p is not None and type(entry.record) is CachedKey
        assert p.allowed_models is first.allowed_models
        assert p.project_metadata is first.project_metadata
        assert p.project is first.project and p.project_name is first.project_name
        assert p.tags is NO_TAGS
        assert p.id is entry.record.id  # one string for both
    assert first.project_metadata == {"metadata": {"tier": "gold"}, "cost_center": "cc-1"}
    tagged = entries[99].principal
    assert tagged is not None and dict(tagged.tags) == {"team": "red"}
    narrowed = entries[98].principal
    assert narrowed is not None and narrowed.allowed_models == frozenset({"gpt-a"})
    # what each key owns alone: its digest (the cache's key), the entry, its two times, the cached key, its id,
    # the principal and its user id; its project parts are reached from every entry, so owned by none
    shared = set(_reachable(first, set())) - {id(first), id(first.id), id(first.user)}
    for digest, entry in list(cache._entries.items())[:98]:
        owned = [o for o in _reachable(entry, shared).values()] + [digest]
        kinds = sorted(type(o).__name__ for o in owned)
        assert kinds == ["CachedKey", "Principal", "_Entry", "float", "float", "str", "str", "str"], kinds
        assert sys.getsizeof(entry.record) <= 72


async def test_a_changed_project_gives_keys_loaded_after_it_its_new_values() -> None:
    store = _Store()
    cache = _cache(store)
    credential = "sk-wg-compact-change"
    other = "sk-wg-compact-change2"
    digest_to_n[key_hash(credential)] = 5
    digest_to_n[key_hash(other)] = 6
    before = (await cache.lookup(credential)).principal
    store.allowed, store.metadata = None, {"tier": "silver"}
    after = (await cache.lookup(other)).principal
    assert before is not None and before.allowed_models == frozenset({"gpt-a", "gpt-b"})
    assert after is not None and after.allowed_models is None
    assert after.project_metadata["metadata"] == {"tier": "silver"}
    assert before.project_metadata["metadata"] == {"tier": "gold"}
