-- wrk script: POST tickets with varied subjects (identical ones would all join one incident);
-- report p50/p95/p99 latency and status counts as one JSON line.
-- wrk runs each thread in its own Lua state: setup() numbers them (so their random subjects
-- differ) and done() adds up their non-2xx counts.
local topics = {"password reset", "invoice download", "refund request", "app crashes",
  "email not arriving", "two-factor setup", "slow dashboard", "export to CSV", "billing address",
  "API token", "mobile login", "printer driver", "VPN access", "calendar sync", "data import"}
local threads = {}

setup = function(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

-- Per thread (globals, so done() can read them with thread:get).
counter = 0
non2xx = 0

init = function(args)
  math.randomseed(os.time() + 7919 * (thread_id or 0))
end

request = function()
  counter = counter + 1
  local topic = topics[math.random(#topics)]
  local body = string.format(
    '{"subject":"%s %d-%d","description":"Customer %d reports a problem with %s since the update",'
    .. '"department":"bench","priority":"normal","language":"en","requester_email":"bench%d@example.com"}',
    topic, counter, math.random(1000000), math.random(1000000), topic, math.random(100000))
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

done = function(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("non2xx") end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    bad,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
