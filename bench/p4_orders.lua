-- wrk script for bench/p4_pipeline.sh: POST /orders with a distinct order per
-- request from 50 customers (the FIFO group is per customer, so the load
-- spreads over 50 groups as a shop's would).
--
-- P4_PREFIX=run [P4_RATE=N P4_THREADS=T] wrk -tT <opts> -s bench/p4_orders.lua URL
--   P4_PREFIX  makes order ids distinct across runs.
--   P4_RATE    total requests per second to pace to (absent: as fast as the
--              connections go); P4_THREADS must then be wrk's -t. Pacing
--              follows a schedule per thread (request k at start + k / rate),
--              so a slow answer does not lower the offered rate while
--              connections are free. Read from the environment because wrk
--              decides whether to pace (a delay() function exists) before
--              any script argument reaches the threads.
-- The last line is machine-readable: P4WRK requests=.. seconds=.. non2xx=..
-- errors=.. p50_us=.. p99_us=..

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } p4_timespec;
  int clock_gettime(int clk, p4_timespec *ts);
]]
local ts = ffi.new("p4_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local prefix = os.getenv("P4_PREFIX") or "p4"
local rate = tonumber(os.getenv("P4_RATE") or "0") or 0
local interval_ms = 1000.0 * (tonumber(os.getenv("P4_THREADS") or "1") or 1) / math.max(rate, 1)
local started, slot, n

function init(args)
  started = now_ms()
  slot = 0
  n = 0
end

function request()
  n = n + 1
  local customer = (n + thread_no * 7) % 50
  local body = string.format(
    '{"orderID":"%s-%d-%d","customerName":"Bench Customer %02d",' ..
    '"items":[{"itemId":"item-%d","quantity":%d}],' ..
    '"shippingAddress":"%d Bench Street, Testville"}',
    prefix, thread_no, n, customer, n % 97, 1 + n % 9, customer)
  return wrk.format("POST", "/orders", { ["Content-Type"] = "application/json" }, body)
end

if rate > 0 then
  function delay()
    slot = slot + 1
    local wait = started + slot * interval_ms - now_ms()
    if wait < 0 then
      return 0
    end
    return wait
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "P4WRK requests=%d seconds=%.3f non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration / 1e6, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
