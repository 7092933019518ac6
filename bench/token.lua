-- wrk script for POST /token (client_credentials, HTTP Basic). Prints one JSON line
-- `WRK_SUMMARY {...}` at the end. Env: BENCH_AUTH (Authorization header value),
-- BENCH_BODY (form body).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "grant_type=client_credentials&scope=feedback:read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") or ""

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_SUMMARY {"requests":%d,"duration_s":%.3f,"rps":%.1f,"lat_p50_ms":%.3f,"lat_p90_ms":%.3f,'
    .. '"lat_p99_ms":%.3f,"lat_max_ms":%.3f,"socket_errors":%d,"non_2xx":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
