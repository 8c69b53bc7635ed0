-- wrk script for scripts/bench.sh. SCENARIO (env): create | list | complete.
-- The data file (first script argument) has one "user_id token [task_id]" per line.
local scenario = os.getenv("SCENARIO")
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  reqs = {}
  for line in io.lines(args[1]) do
    local uid, token, task = line:match("^(%S+)%s+(%S+)%s*(%S*)")
    if uid then
      local auth = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
      if scenario == "create" then
        reqs[#reqs + 1] = wrk.format("POST", "/api/" .. uid .. "/tasks", auth,
          '{"title":"bench task","description":"created by scripts/bench.sh","priority":"medium"}')
      elseif scenario == "list" then
        reqs[#reqs + 1] = wrk.format("GET", "/api/" .. uid .. "/tasks", auth)
      else
        reqs[#reqs + 1] = wrk.format("PATCH", "/api/" .. uid .. "/tasks/" .. task .. "/complete", auth)
      end
    end
  end
  n = #reqs
  idx = ((tonumber(tid) or 0) * 7919) % n
end

function request()
  idx = idx % n + 1
  return reqs[idx]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d sockerr=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
