-- wrk script: each request carries the session cookie of a reader picked at random; prints JSON at the end.
local cookies = {}
for line in io.lines(os.getenv("SESSIONS_FILE")) do cookies[#cookies + 1] = line end
local path = os.getenv("BENCH_PATH")

request = function()
  return wrk.format("GET", path, { Cookie = "sessionid=" .. cookies[math.random(#cookies)] })
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests": %d, "errors": %d, "non_2xx": %d, "rps": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
