-- wrk script for bench/http_soak.py: every request a different virtual key (of the BENCH_KEYS file, one per line:
-- 100,000 keys of 100,000 users), and every BENCH_JUNK_EVERY-th request a junk model name (of BENCH_JUNK distinct
-- ones), so users, keys and model names churn through every per-key, per-user and per-model structure.
-- BENCH_RATE (optional): pace the requests to about that many a second over all BENCH_THREADS threads (the same
-- evenly spaced send slots as bench/wrk_rate.lua), so that the per-key structures bounded by time (the key cache's
-- last 30 s, the rate windows' last 60 s) hold the same number of keys from start to end.

local keys = {}
for line in io.lines(os.getenv("BENCH_KEYS")) do keys[#keys + 1] = line end
local junk_every = tonumber(os.getenv("BENCH_JUNK_EVERY") or "10")
local junk = tonumber(os.getenv("BENCH_JUNK") or "10000")
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local n = 0
local thread_id = 0
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local interval = rate and (tonumber(os.getenv("BENCH_THREADS") or "1") / rate) or nil
local next_slot = nil

if interval then
  local ffi = require("ffi")
  ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } wg_soak_timespec;
  int clock_gettime(int clk_id, wg_soak_timespec *tp);
  ]]
  local ts = ffi.new("wg_soak_timespec")
  local function now_s()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end

  function delay()
    local now = now_s()
    next_slot = next_slot and math.max(next_slot + interval, now) or now
    return math.floor((next_slot - now) * 1000 + 0.5)
  end
end

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  n = offset + (thread_id or 0) * 7919
end

function request()
  n = n + 1
  local key = keys[(n % #keys) + 1]
  local model = "bench-gpt"
  if n % junk_every == 0 then model = "junk-model-" .. (n % junk) end
  local body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"hi"}],"max_tokens":16}'
  return wrk.format("POST", "/v1/chat/completions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local path = os.getenv("BENCH_OUT")
  local f = assert(io.open(path, "w"))
  f:write(string.format('{"requests":%d,"status_errors":%d,"connect":%d,"read":%d,"timeout":%d}',
    summary.requests, e.status, e.connect, e.read, e.timeout))
  f:close()
end
