"""The roll-ups' p95s worked out in SQL, on PostgreSQL and SQLite alike, so that a row of the analytics answer
brings its p95s and not its 128 histogram counts back to Python (decision 060).

The answer is ``histogram_p95``'s, exactly: bucket ``b`` of a histogram (counts ``h_0 … h_63``, total ``T``) is the
first whose prefix ``P_b = h_0 + … + h_b`` reaches ``ceil(0.95 T)``. In integers, for an integer ``P``:
``P ≥ ceil(95 T / 100) ⇔ 20 P ≥ 19 T``, and with the suffix ``S = T − P_b = h_(b+1) + … + h_63``:
``20 S ≤ T``. (``histogram_p95`` computes ``ceil(0.95 * T)`` in floating point, which is ``ceil(95 T / 100)`` for
every total below 2^46.) A binary search over ``b`` asks six such questions, each written with whichever of the
prefix and the suffix has fewer terms, over the sums of 8 blocks of 8 buckets and the buckets of one block: about 25
additions a histogram, on top of the 8 block sums and the total (a level below, computed once).

Two ways to use it (``analytics_rollup.from_rollup`` picks one):

- ``per_row``: each roll-up row's p95s, ordered by the group's key, with no aggregate: the answer for a group that
  is one roll-up row (hourly buckets grouped by dimensions that fix the roll-up's others, as project,model on
  ``usage_rollup_models`` when each project has one team and each model one provider).
- ``grouped``: the histograms summed over the group first (128 more aggregates a group), then the search: daily
  buckets and the whole window, and the groups ``per_row`` gave as several consecutive rows (``only_shared``).

Each level is kept apart with ``OFFSET 0``: PostgreSQL and SQLite would otherwise fold a subquery into the query
above it and repeat its expressions at every use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, case, cast, func, literal_column, null, select, tuple_

from wardgate.store.rollup_tables import BOUNDS, HIST, LATENCY_COLUMNS, SUMS, TTFT_COLUMNS

BLOCK = 8
_BLOCKS = HIST // BLOCK
HISTOGRAMS = {"latency_p95": LATENCY_COLUMNS, "ttft_p95": TTFT_COLUMNS}  # the order of the p95s in a row
Column = Callable[[int], Any]


def _sum(terms: Sequence[Any], wide: bool) -> Any:
    """``terms`` added up; on PostgreSQL the first is cast to BIGINT when it is a roll-up's INTEGER column, so that a
    sum of several never overflows."""
    first, *rest = terms
    total = cast(first, BigInteger) if wide and not isinstance(first.type, BigInteger) else first
    for term in rest:
        total = total + term
    return total


def p95_of(bucket: Column, block: Column, total: Any, *, wide: bool) -> Any:
    """The upper edge of the bucket holding the nearest-rank p95 (null for an empty histogram): ``bucket(i)`` is the
    count of bucket ``i``, ``block(k)`` the sum of buckets ``8k … 8k+7``, ``total`` their sum (BIGINT expressions or
    columns of the level below)."""
    twenty = cast(literal_column("20"), BigInteger)
    nineteen = cast(literal_column("19"), BigInteger)

    def reached(m: int) -> Any:  # does the prefix up to bucket m reach the rank?
        k, j = divmod(m, BLOCK)
        if j == BLOCK - 1:
            prefix = [block(b) for b in range(k + 1)]
            suffix = [block(b) for b in range(k + 1, _BLOCKS)]
        else:
            prefix = [block(b) for b in range(k)] + [bucket(i) for i in range(k * BLOCK, m + 1)]
            suffix = [bucket(i) for i in range(m + 1, (k + 1) * BLOCK)] + [block(b) for b in range(k + 1, _BLOCKS)]
        if len(prefix) <= len(suffix):
            return twenty * _sum(prefix, wide) >= nineteen * total
        return twenty * _sum(suffix, wide) <= total

    def search(low: int, high: int) -> Any:
        if low == high:
            return literal_column(str(BOUNDS[low]))
        middle = (low + high) // 2
        return case((reached(middle), search(low, middle)), else_=search(middle + 1, high))

    return case((total == 0, null()), else_=search(0, HIST - 1))


def _level(source: Any, keep: Sequence[Any], histograms: Sequence[str], where: Sequence[Any], *, wide: bool) -> Any:
    """A subquery of ``keep`` and, per histogram (``source``'s columns ``<prefix>_<i>``), its buckets, 8 block sums
    and total, computed once a row."""
    columns = list(keep)
    for metric in histograms:
        names = HISTOGRAMS[metric]
        buckets = [source.c[name] for name in names]
        columns += buckets
        columns += [
            _sum(buckets[b * BLOCK : (b + 1) * BLOCK], wide).label(f"{names[0][:-2]}_block{b}") for b in range(_BLOCKS)
        ]
        columns.append(_sum(buckets, wide).label(f"{names[0][:-2]}_total"))
    return select(*columns).where(*where).offset(0).subquery("histograms")


def _p95s(level: Any, histograms: Sequence[str], *, wide: bool) -> list[Any]:
    found = []
    for metric in histograms:
        names = HISTOGRAMS[metric]
        buckets = [level.c[name] for name in names]
        blocks = [level.c[f"{names[0][:-2]}_block{b}"] for b in range(_BLOCKS)]
        found.append(
            p95_of(buckets.__getitem__, blocks.__getitem__, level.c[f"{names[0][:-2]}_total"], wide=wide).label(metric)
        )
    return found


def per_row(
    table: Any, keys: Sequence[str], where: Sequence[Any], histograms: Sequence[str], *, dialect: str
) -> Select[Any]:
    """``(*keys, *SUMS, *p95s)`` per roll-up row, ordered by ``keys`` (roll-up columns, ``hour`` first): the answer
    where each group of ``keys`` is one roll-up row; a group of several rows comes as consecutive rows, whose sums and
    p95s ``grouped`` gives. No aggregate at all: on PostgreSQL, 34,560 rows cost ~100 ms of the backend's CPU against
    ~210 ms grouped by ``keys`` with ``count(*)`` (sums of BIGINT are NUMERIC there)."""
    wide = dialect == "postgresql"
    keep = [table.c[name] for name in (*keys, *SUMS)]
    level = _level(table, keep, histograms, where, wide=wide)
    query = select(*(level.c[name] for name in (*keys, *SUMS)), *_p95s(level, histograms, wide=wide))
    return query.order_by(*(level.c[k] for k in keys))


def grouped(
    table: Any,
    keys: Sequence[tuple[str, Any]],
    where: Sequence[Any],
    histograms: Sequence[str],
    *,
    dialect: str,
    only_shared: bool = False,
) -> Select[Any]:
    """``(*keys, *SUMS, *p95s)`` per group of ``keys`` (``(label, expression over table)``), ordered: the group's
    histograms summed, then the search. ``only_shared``: only the groups of more than one roll-up row."""
    wide = dialect == "postgresql"
    plain = [expression for _, expression in keys]
    sums = [cast(func.sum(table.c[s]), BigInteger).label(s) for s in SUMS]
    buckets = [
        cast(func.sum(table.c[name]), BigInteger).label(name) for metric in histograms for name in HISTOGRAMS[metric]
    ]
    query = select(*(expression.label(label) for label, expression in keys), *sums, *buckets)
    conditions = list(where)
    if only_shared and keys:
        shared = select(*plain).where(*where).group_by(*plain).having(func.count() > 1)
        conditions.append(tuple_(*plain).in_(shared))
    query = query.where(*conditions)
    if plain:
        query = query.group_by(*plain)
    summed = query.subquery("summed")
    names = [label for label, _ in keys]
    level = _level(summed, [summed.c[name] for name in (*names, *SUMS)], histograms, [], wide=wide)
    out = select(*(level.c[name] for name in (*names, *SUMS)), *_p95s(level, histograms, wide=wide))
    return out.order_by(*(level.c[n] for n in names)) if names else out
