-- wrk.lua: the load of load.mjs for wrk (Debian's wrk 4.1): GET
-- /api/v1/search?k=10&q=... with the queries of a file in turn, the key in
-- an Authorization header; prints load.mjs's line (throughput, p50/p99,
-- failed requests: socket errors, timeouts and non-2xx answers); run.sh
-- puts the concurrency in front.
-- usage: wrk -t1 -c C -d SECONDS --timeout 10s -s wrk.lua URL -- KEY QUERIES_FILE
local queries, key, i = {}, "", 0

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  key = args[1]
  for line in io.lines(args[2]) do
    if #line > 0 then queries[#queries + 1] = urlencode(line) end
  end
end

function request()
  i = i % #queries + 1
  return wrk.format("GET", "/api/v1/search?k=10&q=" .. queries[i],
                    { Authorization = "Bearer " .. key })
end

function done(summary, latency, requests)
  local e = summary.errors
  local failed = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("requests=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, failed))
end
