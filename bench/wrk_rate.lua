-- wrk script: the harness's post.lua plus a delay() hook that paces the requests,
-- so that wrk (closed loop) sends about BENCH_RATE requests per second in total.
--
-- It does not copy post.lua: it loads it (the body, the headers and the JSON
-- summary in done() are post.lua's), then adds pacing on top.
--
-- Environment (besides post.lua's BENCH_BODY_FILE, BENCH_HEADERS, BENCH_OUT):
--   BENCH_RATE       target total rate, requests/s over all wrk threads (required)
--   BENCH_THREADS    wrk's -t value (default 1): each thread paces BENCH_RATE / BENCH_THREADS
--   BENCH_POST_LUA   path of post.lua (default: harness/wrk/post.lua from this file)
--   BENCH_RATE_OUT   optional: where done() writes {"paced":N,"late":M} (send slots
--                    given out, and those that were already past when a connection
--                    became free, i.e. every connection was busy)
--
-- How the pacing works, and how it differs from a true open-loop generator:
--   wrk calls delay() before every request a connection is about to send and
--   waits that many milliseconds first. Each thread keeps a schedule of send
--   slots evenly spaced 1 / (rate per thread) apart; delay() hands the next
--   slot to the connection asking and returns the time until it. With enough
--   idle connections (-c well above rate x latency), requests leave at the
--   slot times whatever the answers do, which is an open load with evenly
--   spaced (not Poisson) arrivals. The approximations:
--     * at most -c requests are in flight: when every connection is busy the
--       slot is missed and the schedule restarts from "now" (counted in "late"),
--       so the achieved rate drops below the target instead of queueing;
--     * wrk's latency clock starts when the request is written, after the
--       delay, so a missed slot's wait is not in the percentiles (coordinated
--       omission, limited to the moments when all connections are busy);
--     * wrk's timers have 1 ms resolution: each send is within ~1 ms of its slot.
--   Read "late" and the achieved rate next to p99: with late near 0 and the
--   achieved rate near the target, p99 is the latency at that offered load.

local here = debug.getinfo(1, "S").source:match("^@(.*)/") or "."
local post = os.getenv("BENCH_POST_LUA")
if post == nil or post == "" then
  post = here .. "/harness/wrk/post.lua"
end
dofile(post)

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } wg_rate_timespec;
int clock_gettime(int clk_id, wg_rate_timespec *tp);
]]
local ts = ffi.new("wg_rate_timespec")
local CLOCK_MONOTONIC = 1

local function now_s()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")
assert(rate and rate > 0, "BENCH_RATE (requests/s, > 0) is required")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
local interval = threads / rate -- seconds between two sends of one thread
local next_slot = nil

-- per-thread counters, read from the main state in done() via thread:get()
paced = 0
late = 0

function delay()
  local now = now_s()
  if next_slot == nil then
    next_slot = now
  else
    next_slot = next_slot + interval
    if next_slot < now then -- every connection was busy at that slot: missed
      late = late + 1
      next_slot = now
    end
  end
  paced = paced + 1
  return math.floor((next_slot - now) * 1000 + 0.5)
end

local all_threads = {}

function setup(thread)
  table.insert(all_threads, thread)
end

local post_done = done

function done(summary, latency, requests)
  post_done(summary, latency, requests)
  local path = os.getenv("BENCH_RATE_OUT")
  if path and path ~= "" then
    local p, l = 0, 0
    for _, t in ipairs(all_threads) do
      p = p + (tonumber(t:get("paced")) or 0)
      l = l + (tonumber(t:get("late")) or 0)
    end
    local f = assert(io.open(path, "w"))
    f:write(string.format('{"paced":%d,"late":%d}\n', p, l))
    f:close()
  end
end
