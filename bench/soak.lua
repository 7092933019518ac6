-- Mixed soak load: 79% valid token requests, 20% wrong credentials, 1% admin writes
-- (PATCH of a keypair's comment). Counts answers by class; done() prints one JSON line.
-- Env: SOAK_GOOD (Authorization for a valid keypair), SOAK_BAD (a wrong one),
--      SOAK_ADMIN (Bearer token of the operator), SOAK_PATCH_PATH (admin path to PATCH).
local good, bad = os.getenv("SOAK_GOOD"), os.getenv("SOAK_BAD")
local admin, patch_path = os.getenv("SOAK_ADMIN"), os.getenv("SOAK_PATCH_PATH")
local form = "grant_type=client_credentials&scope=feedback:read"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; c2 = 0; c4 = 0; c429 = 0; c5 = 0 end
function request()
  n = n + 1
  local m = n % 100
  if m == 0 then
    return wrk.format("PATCH", patch_path, {["Content-Type"] = "application/json", ["Authorization"] = admin},
      '{"comment":"soak ' .. n .. '"}')
  elseif m <= 20 then
    return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = bad}, form)
  end
  return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = good}, form)
end
function response(status, headers, body)
  if status >= 500 then c5 = c5 + 1 elseif status == 429 then c429 = c429 + 1
  elseif status >= 400 then c4 = c4 + 1 else c2 = c2 + 1 end
end
function done(summary, latency, requests)
  local t = {c2 = 0, c4 = 0, c429 = 0, c5 = 0}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
  end
  io.write(string.format('SOAK_SUMMARY {"requests":%d,"ok":%d,"4xx":%d,"429":%d,"5xx":%d,"socket_errors":%d,"p99_ms":%.2f}\n',
    summary.requests, t.c2, t.c4, t.c429, t.c5,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(99) / 1000))
end
