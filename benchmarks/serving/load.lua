-- wrk script: each request carries the session cookie of a reader picked at random; prints JSON at the end.
local cookies = {}
for line in io.lines(os.getenv("SESSIONS_FILE")) do cookies[#cookies + 1] = line end
local path = os.getenv("BENCH_PATH")
-- With PAPERS_FILE, each request opens a paper picked at random: BENCH_PATH .. its id .. "/".
local papers = {}
if os.getenv("PAPERS_FILE") then
  for line in io.lines(os.getenv("PAPERS_FILE")) do papers[#papers + 1] = line end
end

request = function()
  local target = path
  if #papers > 0 then target = path .. papers[math.random(#papers)] .. "/" end
  return wrk.format("GET", target, { Cookie = "sessionid=" .. cookies[math.random(#cookies)] })
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests": %d, "errors": %d, "non_2xx": %d, "rps": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
