-- wrk's done() hook, shared by every workload: one JSON line with exact numbers for bench/run.py
-- (wrk's own text output rounds latencies and mixes units). Latencies are in microseconds.
function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"latency_us": {"p50": %.0f, "p90": %.0f, "p99": %.0f, "mean": %.1f, "max": %.0f}, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout
   ))
end
