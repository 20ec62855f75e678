-- wrk script: POST tickets with varied subjects (identical ones would all join one incident);
-- report p50/p95/p99 latency and status counts as one JSON line.
local topics = {"password reset", "invoice download", "refund request", "app crashes",
  "email not arriving", "two-factor setup", "slow dashboard", "export to CSV", "billing address",
  "API token", "mobile login", "printer driver", "VPN access", "calendar sync", "data import"}
local counter = 0
math.randomseed(os.time())

request = function()
  counter = counter + 1
  local topic = topics[math.random(#topics)]
  local body = string.format(
    '{"subject":"%s %d-%d","description":"Customer %d reports a problem with %s since the update",'
    .. '"department":"bench","priority":"normal","language":"en","requester_email":"bench%d@example.com"}',
    topic, counter, math.random(1000000), math.random(1000000), topic, math.random(100000))
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

local non2xx = 0
response = function(status, headers, body)
  if status ~= 201 then non2xx = non2xx + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "errors": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
