#!/usr/bin/env bash
# Bounded soak: a release keygate on a fresh SQLite database under mixed load (valid
# tokens, wrong credentials, admin writes) for SECONDS (default 180) at 32 connections.
# Passes when there is no 5xx and no socket error and the server's memory stops
# growing (RSS in the last third within 10% of RSS at the end of the first third).
# The throttle limits are raised so that the wrong credentials (all from 127.0.0.1)
# do not turn the rest of the load into 429s. See docs/security.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${1:-180}
command -v wrk >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p keygate
WORK=$(mktemp -d -t keygate-soak.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export KEYGATE_DATABASE_URL="sqlite://$WORK/keygate.db" KEYGATE_KEY_ENCRYPTION_KEY_FILE="$WORK/kek" \
  KEYGATE_LISTEN="127.0.0.1:$PORT" KEYGATE_ISSUER="http://127.0.0.1:$PORT" RUST_LOG=warn \
  KEYGATE_THROTTLE_FAILURES_PER_ADDRESS=1000000000 KEYGATE_THROTTLE_FAILURES_PER_CLIENT_ADDRESS=1000000000 \
  KEYGATE_THROTTLE_FAILURES_PER_CLIENT=1000000000
OP=$(target/release/keygate bootstrap 2>/dev/null)
target/release/keygate serve >"$WORK/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.05; done
eval "$(OP="$OP" PORT="$PORT" python3 - <<'PY'
import base64, http.client, json, os
op = json.loads(os.environ["OP"]); c = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT"]))
def call(m, p, body=None, auth=None, form=None):
    h = {"Authorization": auth} if auth else {}
    if body is not None: h["Content-Type"] = "application/json"; body = json.dumps(body)
    if form is not None: h["Content-Type"] = "application/x-www-form-urlencoded"; body = form
    c.request(m, p, body=body, headers=h); r = c.getresponse(); return json.loads(r.read())
b = lambda i, s: "Basic " + base64.b64encode(f"{i}:{s}".encode()).decode()
tok = call("POST", "/token", form="grant_type=client_credentials", auth=b(op["client_id"], op["client_secret"]))["access_token"]
a = call("POST", "/admin/v1/accounts", {"name": "soak"}, "Bearer " + tok)["id"]
k = call("POST", f"/admin/v1/accounts/{a}/keypairs", {"scopes": ["feedback:read"]}, "Bearer " + tok)
print(f'export SOAK_GOOD="{b(k["client_id"], k["client_secret"])}" SOAK_BAD="{b(k["client_id"], "kgs_wrong")}" '
      f'SOAK_ADMIN="Bearer {tok}" SOAK_PATCH_PATH="/admin/v1/keypairs/{k["client_id"]}"')
PY
)"
RSS_LOG="$WORK/rss"
( while kill -0 $PID 2>/dev/null; do echo "$(date +%s) $(awk '/VmRSS/{print $2}' /proc/$PID/status)"; sleep 5; done ) >"$RSS_LOG" &
SAMPLER=$!
SUMMARY=$(wrk -t2 -c32 -d"${SECONDS_TOTAL}s" -s bench/soak.lua "http://127.0.0.1:$PORT" | sed -n 's/^SOAK_SUMMARY //p')
kill $SAMPLER 2>/dev/null || true
python3 - "$RSS_LOG" "$SUMMARY" <<'PY'
import json, sys
rss = [int(l.split()[1]) for l in open(sys.argv[1]) if len(l.split()) == 2]
s = json.loads(sys.argv[2])
third = max(1, len(rss) // 3)
first_end, last = rss[third - 1], rss[-third:]
growth = (max(last) - first_end) / first_end
s.update({"rss_kib_first_third_end": first_end, "rss_kib_max": max(rss), "rss_kib_end": rss[-1],
          "rss_growth_last_third": round(growth, 3)})
print(json.dumps(s))
ok = s["5xx"] == 0 and s["socket_errors"] == 0 and growth <= 0.10
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
