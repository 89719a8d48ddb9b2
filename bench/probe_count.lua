-- wrk script for bench/run.sh's exporter case: reads every answer of a /probe URL, and counts
-- the HTTP 200 answers whose body says `probe_success 1` apart from the rest, so a fast run of
-- failed probes cannot pass for throughput. At the end it prints one line, `WRK_JSON {...}`:
-- requests, duration, socket errors, the counts, and latency percentiles in microseconds.
-- With an argument (`wrk ... -s probe_count.lua URL -- N`) each thread stops after N answers,
-- so a run can drive the exporter to a number of probes rather than for a time.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  success = 0
  failure = 0
  non200 = 0
  limit = tonumber(args[1] or "")
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif body:find("\nprobe_success 1\n", 1, true) or body:find("^probe_success 1\n") then
    success = success + 1
  else
    failure = failure + 1
  end
  if limit and success + failure + non200 >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local success, failure, non200 = 0, 0, 0
  for _, thread in ipairs(threads) do
    success = success + thread:get("success")
    failure = failure + thread:get("failure")
    non200 = non200 + thread:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "success": %d, "failure": %d, "non200": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, success, failure, non200,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
