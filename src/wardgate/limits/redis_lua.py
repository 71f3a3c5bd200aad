"""The Lua scripts of the Redis backend: each runs atomically on the server, one round trip per call.

Time comes from the server (`TIME`), so replicas with skewed clocks still agree on windows and expiries.
Keys derived from a budget key (`<key>:h` holds, `<key>:a` amounts) share its hash tag, so a cluster could keep
them on one slot. A budget counter carries the field ``i`` once it was initialised from the ledger (INIT); RESERVE
refuses a counter without it (``missing``), so a flushed or evicted counter is rebuilt, never restarted from 0.
"""

LEASE_ROOM = 256  # a lease takes at most this fraction (1/256) of what is left on any counter it holds

RESERVE = (
    f"local LEASE_ROOM = {LEASE_ROOM}\n"
    + r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rid = ARGV[1]
local nb = tonumber(ARGV[2])
local nr = tonumber(ARGV[3])
local hold_ttl = tonumber(ARGV[4])
local units = tonumber(ARGV[5])  -- a lease asks for up to this many requests' worth (limits/lease.py); 1 otherwise
local fits = units * LEASE_ROOM  -- requests that still fit on every counter, counted up to what a lease could use
local a = 6
local budgets = {}
for i = 1, nb do
  local key = KEYS[i]
  local b = {key = key, limit = tonumber(ARGV[a]), hard = ARGV[a + 1] == '1', amount = ARGV[a + 2],
             ttl = tonumber(ARGV[a + 3]), over = tonumber(ARGV[a + 4]), burst_s = tonumber(ARGV[a + 5])}
  a = a + 6
  local v = redis.call('HMGET', key, 'spent', 'reserved', 'burst_until', 'i')
  if not v[4] then return {0, i, 'missing', '0'} end
  local released = 0  -- holds past their expiry (their request died): given back before deciding
  local expired = redis.call('ZRANGEBYSCORE', key .. ':h', '-inf', now)
  if #expired > 0 then
    local amounts = redis.call('HMGET', key .. ':a', unpack(expired))
    for _, x in ipairs(amounts) do if x then released = released + tonumber(x) end end
    redis.call('HINCRBY', key, 'reserved', string.format('%d', -released))
    redis.call('ZREM', key .. ':h', unpack(expired))
    redis.call('HDEL', key .. ':a', unpack(expired))
  end
  b.spent = tonumber(v[1] or '0')
  b.reserved = tonumber(v[2] or '0') - released
  local burst_until = tonumber(v[3] or '0')
  local cap = b.limit
  if b.over > 0 then fits = 0 end  -- a burst allowance: held one request at a time
  local total = b.spent + b.reserved + tonumber(b.amount)
  if b.over > 0 then
    if burst_until == 0 and total > b.limit then
      b.start_burst = now + b.burst_s
      cap = b.limit + b.over
    elseif now < burst_until then
      cap = b.limit + b.over
    end
  end
  if b.hard and total > cap then
    return {0, i, 'budget', '0', string.format('%d', b.spent), string.format('%d', b.reserved)}
  end
  if units > 1 and b.hard and tonumber(b.amount) > 0 then
    fits = math.min(fits, math.floor((cap - b.spent - b.reserved) / tonumber(b.amount)))
  end
  budgets[i] = b
end
local rates = {}
for i = 1, nr do
  local key = KEYS[nb + i]
  local r = {key = key, rpm = tonumber(ARGV[a]), tpm = tonumber(ARGV[a + 1]), cc = tonumber(ARGV[a + 2]),
             tokens = tonumber(ARGV[a + 3]), bucket = ARGV[a + 4] == '1'}
  a = a + 5
  local horizon = now - 60
  if r.cc > 0 or r.bucket then fits = 0 end  -- concurrency slots and token buckets: one request at a time
  if r.cc > 0 then
    redis.call('ZREMRANGEBYSCORE', key .. ':cc', '-inf', now)
    if redis.call('ZCARD', key .. ':cc') >= r.cc then return {0, i, 'concurrent', '1'} end
  end
  if r.rpm > 0 then
    if r.bucket then
      local s = redis.call('HMGET', key .. ':tb', 'level', 'at')
      local level = tonumber(s[1] or r.rpm)
      local at = tonumber(s[2] or now)
      level = math.min(r.rpm, level + (now - at) * r.rpm / 60)
      r.level = level
      if level < 1 then return {0, i, 'rpm', tostring((1 - level) * 60 / r.rpm)} end
    else
      redis.call('ZREMRANGEBYSCORE', key .. ':rq', '-inf', horizon)
      local n = redis.call('ZCARD', key .. ':rq')
      if n >= r.rpm then
        local first = redis.call('ZRANGE', key .. ':rq', 0, 0, 'WITHSCORES')
        return {0, i, 'rpm', tostring(math.max(0, tonumber(first[2]) + 60 - now))}
      end
      r.n = n
      fits = math.min(fits, r.rpm - n)
    end
  end
  if r.tpm > 0 then
    -- tokens per second in <key>:tk, with their sum ('s') and the oldest second held ('o'): summed again only
    -- when the oldest second leaves the window (about once a second under load), not on every call
    local tk = key .. ':tk'
    local kept = redis.call('HMGET', tk, 's', 'o')
    local sum, oldest = tonumber(kept[1]), tonumber(kept[2])
    if sum == nil or oldest == nil or oldest <= horizon then
      local fields = redis.call('HGETALL', tk)
      sum, oldest = 0, nil
      local stale = {}
      for j = 1, #fields, 2 do
        local sec = tonumber(fields[j])
        if sec then
          if sec <= horizon then table.insert(stale, fields[j])
          else sum = sum + tonumber(fields[j + 1]); if oldest == nil or sec < oldest then oldest = sec end end
        end
      end
      if #stale > 0 then redis.call('HDEL', tk, unpack(stale)) end
      redis.call('HSET', tk, 's', string.format('%d', sum), 'o', tostring(oldest or math.floor(now)))
    end
    oldest = oldest or now
    if sum > 0 and sum + r.tokens > r.tpm then return {0, i, 'tpm', tostring(math.max(0, oldest + 60 - now))} end
    r.sum = sum
    r.oldest = oldest
    if r.tokens > 0 then fits = math.min(fits, math.floor((r.tpm - sum) / r.tokens)) end
  end
  rates[i] = r
end
-- a lease takes at most 1/LEASE_ROOM of the room left, so leases vanish near a cap and requests are held one by one
local k = math.max(1, math.min(units, math.floor(fits / LEASE_ROOM)))
local out = {1, k, '', '0'}
for i = 1, nb do
  local b = budgets[i]
  b.amount = string.format('%d', tonumber(b.amount) * k)
  redis.call('HINCRBY', b.key, 'reserved', b.amount)
  redis.call('HSET', b.key .. ':a', rid, b.amount)
  redis.call('ZADD', b.key .. ':h', now + hold_ttl, rid)
  if b.start_burst then redis.call('HSET', b.key, 'burst_until', tostring(b.start_burst)) end
  local ttl = math.ceil(b.ttl)
  redis.call('EXPIRE', b.key, ttl)
  redis.call('EXPIRE', b.key .. ':a', ttl)
  redis.call('EXPIRE', b.key .. ':h', ttl)
  table.insert(out, string.format('%d', b.spent))
  table.insert(out, string.format('%d', b.reserved + tonumber(b.amount)))
end
for i = 1, nr do
  local r = rates[i]
  local req_left, tok_left, reset_rq, reset_tk = -1, -1, 0, 0
  if r.cc > 0 then
    redis.call('ZADD', r.key .. ':cc', now + hold_ttl, rid)
    redis.call('EXPIRE', r.key .. ':cc', math.ceil(hold_ttl) + 1)
  end
  if r.rpm > 0 then
    if r.bucket then
      redis.call('HSET', r.key .. ':tb', 'level', tostring(r.level - 1), 'at', tostring(now))
      redis.call('EXPIRE', r.key .. ':tb', 120)
      req_left = math.floor(r.level - 1)
    else
      if k == 1 then redis.call('ZADD', r.key .. ':rq', now, rid)
      else  -- a lease's requests: members <lease id>:1 .. :k, those unused are removed when it is returned
        local members = {}
        for j = 1, k do members[2 * j - 1] = now; members[2 * j] = rid .. ':' .. j end
        redis.call('ZADD', r.key .. ':rq', unpack(members))
      end
      redis.call('EXPIRE', r.key .. ':rq', 61)
      req_left = r.rpm - r.n - k
      local first = redis.call('ZRANGE', r.key .. ':rq', 0, 0, 'WITHSCORES')
      reset_rq = math.max(0, tonumber(first[2]) + 60 - now)
    end
  end
  if r.tpm > 0 then
    local tokens = string.format('%d', r.tokens * k)
    redis.call('HINCRBY', r.key .. ':tk', tostring(math.floor(now)), tokens)
    redis.call('HINCRBY', r.key .. ':tk', 's', tokens)
    redis.call('EXPIRE', r.key .. ':tk', 61)
    tok_left = math.max(0, r.tpm - r.sum - r.tokens * k)
    reset_tk = math.max(0, r.oldest + 60 - now)
  end
  table.insert(out, tostring(req_left))
  table.insert(out, tostring(tok_left))
  table.insert(out, tostring(reset_rq))
  table.insert(out, tostring(reset_tk))
end
return out
"""
)

# Start a budget counter from the ledger's spend, only if nobody did: whatever was settled on it meanwhile is kept
# (it may count a call twice, never zero times); the reserved total is recomputed from the holds that survived.
INIT = r"""
if redis.call('HEXISTS', KEYS[1], 'i') == 1 then return 0 end
local held = redis.call('HVALS', KEYS[1] .. ':a')
local sum = 0
for _, v in ipairs(held) do sum = sum + tonumber(v) end
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[1])
redis.call('HSET', KEYS[1], 'reserved', string.format('%d', sum), 'i', '1')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# The settlements of many requests at once (limits/redis_settle.py merges those queued in one round trip), grouped
# by counter: ARGV = nb, nr, then per budget key: ttl, n, n × (hold id, amount to release: -1 for the whole hold),
# their actual total; per rate key: token delta, n, n × request id (concurrency slots to free), m, m × sliding-window
# members to remove (a returned lease's unused requests). Returns each budget's spent total after the group.
SETTLE_MANY = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local nb = tonumber(ARGV[1])
local nr = tonumber(ARGV[2])
local a = 3
local out = {}
for i = 1, nb do
  local key = KEYS[i]
  local ttl = math.ceil(tonumber(ARGV[a]))
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local rids, wants = {}, {}
  for j = 1, n do
    rids[j] = ARGV[a]
    wants[j] = tonumber(ARGV[a + 1])
    a = a + 2
  end
  local actual = ARGV[a]
  a = a + 1
  local held = redis.call('HMGET', key .. ':a', unpack(rids))
  local release, gone = 0, {}
  for j = 1, n do
    if held[j] then
      local h = tonumber(held[j])
      local w = wants[j]
      if w < 0 or w >= h then  -- the whole hold
        release = release + h
        table.insert(gone, rids[j])
      elseif w > 0 then  -- part of a lease's hold: what its settled requests had taken
        release = release + w
        redis.call('HINCRBY', key .. ':a', rids[j], string.format('%d', -w))
      end
    end
  end
  if release > 0 then redis.call('HINCRBY', key, 'reserved', string.format('%d', -release)) end
  if #gone > 0 then
    redis.call('HDEL', key .. ':a', unpack(gone))
    redis.call('ZREM', key .. ':h', unpack(gone))
  end
  local spent = redis.call('HINCRBY', key, 'spent', actual)
  redis.call('EXPIRE', key, ttl)
  table.insert(out, spent)
end
for i = 1, nr do
  local key = KEYS[nb + i]
  local delta = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  if delta ~= 0 then
    local tk = key .. ':tk'
    redis.call('HINCRBY', tk, tostring(math.floor(now)), string.format('%d', delta))
    if redis.call('HEXISTS', tk, 'o') == 1 then redis.call('HINCRBY', tk, 's', string.format('%d', delta))
    else redis.call('HDEL', tk, 's') end  -- no oldest second known: the next reservation sums them again
    redis.call('EXPIRE', tk, 61)
  end
  if n > 0 then
    local rids = {}
    for j = 1, n do rids[j] = ARGV[a + j - 1] end
    redis.call('ZREM', key .. ':cc', unpack(rids))
  end
  a = a + n
  local m = tonumber(ARGV[a])
  a = a + 1
  if m > 0 then
    local members = {}
    for j = 1, m do members[j] = ARGV[a + j - 1] end
    redis.call('ZREM', key .. ':rq', unpack(members))
  end
  a = a + m
end
return out
"""
