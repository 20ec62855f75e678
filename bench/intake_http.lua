-- wrk script: POST a ticket; report p50/p95/p99 latency and status counts as one JSON line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"subject":"Benchmark: cannot sign in","description":"The login page rejects my password after the update","department":"technical","priority":"normal","language":"en","requester_email":"bench@example.com"}'

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
