"""Routing state shared across workers and replicas through Redis: one script, one round trip per merge.

Every ``health.sync_interval_s`` a worker sends what it recorded since its last merge (per subject: EWMA inputs as
count and sum, outcome and latency-bin counts per window bucket, its calls in flight), the breakers it opened and
the canary decisions it took; the script folds them into the shared hashes and returns the merged state, which
replaces the worker's view. Between merges each worker routes on its own view, updated at once by what it sees,
so a merge never sits on the request path.

EWMAs merge as if the worker's n observations had all been its mean: ``v ← (1-α)^n·v + (1-(1-α)^n)·mean``. Buckets
are counters (HINCRBY) keyed by window bucket and pruned as they leave the window. In-flight counts are per worker,
each with its time, and only recent ones are summed, so a worker that died stops counting after a few intervals.
A breaker's open period, a Retry-After pause (kept apart, so a pause never turns into a trip) and a canary's status
are last-writer-wins by time. Keys are not declared to the script,
so this needs one Redis (or a primary with replicas), not a Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.routing.health import BUCKETS, Bucket, Delta, Stats

SCRIPT = """
local p = cjson.decode(ARGV[1])
local now = p.now
local prefix = p.prefix
local out = {subjects = {}, breakers = {}, pauses = {}, canaries = {}}
for _, s in ipairs(p.subjects) do
  local h = prefix .. 'h:' .. s.key
  local f = prefix .. 'f:' .. s.key
  if s.forget then
    local fields = redis.call('HKEYS', h)
    for _, k in ipairs(fields) do
      local idx = tonumber(string.match(k, '^(%-?%d+):'))
      if idx and idx <= s.forget then redis.call('HDEL', h, k) end
    end
    redis.call('HSET', h, 'floor', string.format('%d', s.forget))
  end
  for _, name in ipairs({'lat', 'ttft'}) do
    local d = s[name]
    if d and d[1] > 0 then
      local mean = d[2] / d[1]
      local cur = redis.call('HMGET', h, name, name .. '_t')
      local v, t = tonumber(cur[1]), tonumber(cur[2])
      local nv = mean
      if v and t and now - t <= p.stale_s then
        local keep = (1 - p.alpha) ^ d[1]
        nv = keep * v + (1 - keep) * mean
      end
      redis.call('HSET', h, name, string.format('%.17g', nv), name .. '_t', string.format('%.17g', now))
    end
  end
  for _, b in ipairs(s.b) do
    local idx = string.format('%d', b[1])
    if b[2] > 0 then redis.call('HINCRBY', h, idx .. ':o', b[2]) end
    if b[3] > 0 then redis.call('HINCRBY', h, idx .. ':f', b[3]) end
    for _, bin in ipairs(b[4]) do redis.call('HINCRBY', h, idx .. ':' .. bin[1], bin[2]) end
  end
  redis.call('HSET', f, p.replica, string.format('%d:%.17g', s.inflight, now))
  redis.call('PEXPIRE', f, p.keep_ms)
  local oldest = math.floor(now / s.bucket_s) - p.buckets + 1
  local floor = tonumber(redis.call('HGET', h, 'floor'))
  if floor and floor > oldest then oldest = floor end
  local all = redis.call('HGETALL', h)
  local kept = {}
  for i = 1, #all, 2 do
    local idx = tonumber(string.match(all[i], '^(%-?%d+):'))
    if idx and idx < oldest then
      redis.call('HDEL', h, all[i])
    else
      kept[#kept + 1] = all[i]
      kept[#kept + 1] = all[i + 1]
    end
  end
  if #kept > 0 then redis.call('PEXPIRE', h, p.keep_ms) end
  local elsewhere = 0
  local flights = redis.call('HGETALL', f)
  for i = 1, #flights, 2 do
    if flights[i] ~= p.replica then
      local n, t = string.match(flights[i + 1], '^(%-?%d+):(.+)$')
      if n and now - tonumber(t) <= p.fresh_s then elsewhere = elsewhere + tonumber(n) end
    end
  end
  out.subjects[#out.subjects + 1] = {s.key, kept, elsewhere}
end
for _, kind in ipairs({'breakers', 'pauses'}) do
  local bkey = prefix .. kind
  for _, b in ipairs(p[kind]) do
    local cur = redis.call('HGET', bkey, b[1])
    local until_ = cur and tonumber(string.match(cur, '^([^|]+)')) or 0
    if b[2] > until_ then redis.call('HSET', bkey, b[1], string.format('%.17g', b[2]) .. '|' .. b[3]) end
  end
  local breakers = redis.call('HGETALL', bkey)
  for i = 1, #breakers, 2 do
    local until_ = tonumber(string.match(breakers[i + 1], '^([^|]+)'))
    if until_ < now - 3600 then
      redis.call('HDEL', bkey, breakers[i])
    elseif until_ > now then
      out[kind][#out[kind] + 1] = {breakers[i], breakers[i + 1]}
    end
  end
end
local ckey = prefix .. 'canaries'
for _, c in ipairs(p.canaries) do
  local cur = redis.call('HGET', ckey, c[1])
  local at = cur and cjson.decode(cur)[2] or -1
  if c[3] > at then redis.call('HSET', ckey, c[1], cjson.encode({c[2], c[3], c[4]})) end
end
local canaries = redis.call('HGETALL', ckey)
for i = 1, #canaries, 2 do out.canaries[#out.canaries + 1] = {canaries[i], canaries[i + 1]} end
return cjson.encode(out)
"""


@dataclass(frozen=True, slots=True)
class Merged:
    """The script's answer: per subject its buckets, EWMAs and other workers' in-flight count."""

    subjects: dict[str, tuple[tuple[float, float] | None, tuple[float, float] | None, dict[int, Bucket], int]]
    breakers: dict[str, tuple[float, str]]  # breaker → (open until, reason)
    pauses: dict[str, tuple[float, str]]  # breaker → (paused until, reason): a provider's Retry-After
    canaries: dict[str, tuple[str, float, str | None]]  # canary key → (status, changed at, reason)


def payload(
    *,
    now: float,
    prefix: str,
    replica: str,
    alpha: float,
    stale_s: float,
    fresh_s: float,
    subjects: Iterable[tuple[Stats, Delta | None]],
    breakers: Iterable[tuple[str, float, str]],
    canaries: Iterable[tuple[str, str, float, str | None]],
    pauses: Iterable[tuple[str, float, str]] = (),
) -> bytes:
    items: list[dict[str, Any]] = []
    keep_s = 0.0
    for stats, delta in subjects:
        item: dict[str, Any] = {
            "key": stats.key,
            "bucket_s": stats.window_s / BUCKETS,
            "inflight": stats.in_flight,
            "b": [],
        }
        keep_s = max(keep_s, stats.window_s)
        if stats.forget_pending is not None:
            item["forget"] = stats.forget_pending
            stats.forget_pending = None
        if delta is not None:
            if delta.latency_n:
                item["lat"] = [delta.latency_n, delta.latency_sum]
            if delta.ttft_n:
                item["ttft"] = [delta.ttft_n, delta.ttft_sum]
            item["b"] = [
                [index, b.ok, b.failed, [[k, n] for k, n in b.bins.items()]] for index, b in delta.buckets.items()
            ]
        items.append(item)
    return orjson.dumps(
        {
            "now": now,
            "prefix": prefix,
            "replica": replica,
            "alpha": alpha,
            "stale_s": stale_s,
            "fresh_s": fresh_s,
            "buckets": BUCKETS,
            "keep_ms": int((max(keep_s, stale_s) * 2 + 60) * 1000),
            "subjects": items,
            "breakers": [[name, until, reason] for name, until, reason in breakers],
            "pauses": [[name, until, reason] for name, until, reason in pauses],
            "canaries": [[key, status, at, reason] for key, status, at, reason in canaries],
        }
    )


def parse(answer: bytes | str) -> Merged:
    data = orjson.loads(answer)
    subjects: dict[str, Any] = {}
    for key, fields, elsewhere in _list(data.get("subjects")):
        flat = _list(fields)
        values = dict(zip(flat[::2], flat[1::2], strict=True))
        buckets: dict[int, Bucket] = {}
        for name, raw in values.items():
            index, sep, what = name.partition(":")
            if not sep:
                continue
            bucket = buckets.setdefault(int(index), Bucket())
            if what == "o":
                bucket.ok = int(raw)
            elif what == "f":
                bucket.failed = int(raw)
            else:
                bucket.bins[int(what)] = int(raw)
        subjects[key] = (
            _ewma(values, "lat"),
            _ewma(values, "ttft"),
            buckets,
            int(elsewhere),
        )
    breakers, pauses = _until(data.get("breakers")), _until(data.get("pauses"))
    canaries = {}
    for key, raw in _list(data.get("canaries")):
        status, at, reason = orjson.loads(raw)
        canaries[key] = (status, float(at), reason)
    return Merged(subjects, breakers, pauses, canaries)


def _until(value: Any) -> dict[str, tuple[float, str]]:
    out = {}
    for name, raw in _list(value):
        until, _, reason = raw.partition("|")
        out[name] = (float(until), reason)
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []  # Lua's cjson encodes an empty table as {}


def _ewma(values: dict[str, str], name: str) -> tuple[float, float] | None:
    value, at = values.get(name), values.get(name + "_t")
    if value is None or at is None:
        return None
    return float(value), float(at)
