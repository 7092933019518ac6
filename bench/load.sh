#!/usr/bin/env bash
# Load benchmark for POST /token: keygate against the peer (oidc-provider, in
# ../shared/peers/oidc-provider) and the floor (a do-nothing actix-web server), with the
# same load generator and settings, in alternating rounds. Prints medians, ratios and a
# JSON summary. Not part of `cargo test`; see docs/benchmarks.md.
#
# Usage: bench/load.sh [--rounds 3] [--duration 10] [--connections 64] [--threads 2]
#                      [--keypairs 1000] [--database-url postgres://...] [--no-peer]
#                      [--out target/bench]
#   --keypairs N      keypairs in the store: up to 1000 are created through the admin
#                     API, more are seeded directly through keypair-store.
#   --database-url    run keygate on PostgreSQL (a fresh schema is created and dropped)
#                     instead of a fresh SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ROUNDS=3 DURATION=10 CONNECTIONS=64 THREADS=2 KEYPAIRS=1000 DB_URL="" PEER=1 OUT="$ROOT/target/bench"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --keypairs) KEYPAIRS=$2; shift 2 ;;
    --database-url) DB_URL=$2; shift 2 ;;
    --no-peer) PEER=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] || { echo "rounds and duration must be >= 1" >&2; exit 2; }
mkdir -p "$OUT"
log() { printf '== %s\n' "$*" >&2; }

# ---- tools --------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
log "building release binaries"
cargo build --release -q -p keygate --bin keygate --example floor
cargo build --release -q -p keypair-store --example seed
KEYGATE="$ROOT/target/release/keygate"
FLOOR="$ROOT/target/release/examples/floor"
SEED="$ROOT/target/release/examples/seed"

WORK=$(mktemp -d -t keygate-bench.XXXXXX)
PIDS=()
SCHEMA=""
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  if [ -n "$SCHEMA" ]; then psql "$DB_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

# ---- keygate --------------------------------------------------------------------------
if [ -n "$DB_URL" ]; then
  SCHEMA="keygate_bench_$$"
  psql "$DB_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
  SEP='?'; case "$DB_URL" in *\?*) SEP='&' ;; esac
  export KEYGATE_DATABASE_URL="${DB_URL}${SEP}options=-csearch_path%3D${SCHEMA}"
  STORE="postgres"
else
  export KEYGATE_DATABASE_URL="sqlite://$WORK/keygate.db"
  STORE="sqlite"
fi
export KEYGATE_KEY_ENCRYPTION_KEY_FILE="$WORK/kek" KEYGATE_KEY_ENCRYPTION_KEY=""
KG_PORT=$(free_port)
export KEYGATE_LISTEN="127.0.0.1:$KG_PORT" KEYGATE_ISSUER="http://127.0.0.1:$KG_PORT" RUST_LOG=warn

SEEDED=""
if [ "$KEYPAIRS" -gt 1000 ]; then
  log "seeding $KEYPAIRS keypairs directly through keypair-store"
  t0=$(date +%s)
  SEEDED=$("$SEED" "$KEYGATE_DATABASE_URL" "$KEYPAIRS")
  log "seeded in $(( $(date +%s) - t0 )) s"
fi
OPERATOR=$("$KEYGATE" bootstrap 2>/dev/null)
"$KEYGATE" serve >"$WORK/keygate.log" 2>&1 &
KG_PID=$!; PIDS+=("$KG_PID")
wait_http "http://127.0.0.1:$KG_PORT/healthz"

CREDS=$(BASE="http://127.0.0.1:$KG_PORT" OPERATOR="$OPERATOR" SEEDED="$SEEDED" KEYPAIRS="$KEYPAIRS" python3 - <<'PY'
import base64, http.client, json, os
base = os.environ["BASE"].removeprefix("http://")
op = json.loads(os.environ["OPERATOR"])
def call(method, path, body=None, auth=None, form=None):
    c = http.client.HTTPConnection(base, timeout=30)
    headers = {}
    if auth: headers["Authorization"] = auth
    if body is not None:
        headers["Content-Type"] = "application/json"; body = json.dumps(body)
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"; body = form
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse(); data = json.loads(r.read() or b"null")
    if r.status >= 300: raise SystemExit(f"{method} {path}: {r.status} {data}")
    return data
basic = "Basic " + base64.b64encode(f'{op["client_id"]}:{op["client_secret"]}'.encode()).decode()
token = call("POST", "/token", form="grant_type=client_credentials", auth=basic)["access_token"]
bearer = "Bearer " + token
if os.environ["SEEDED"]:
    kp = json.loads(os.environ["SEEDED"])
else:
    acct = call("POST", "/admin/v1/accounts", {"name": "bench"}, bearer)["id"]
    n = int(os.environ["KEYPAIRS"])
    for i in range(n):
        kp = call("POST", f"/admin/v1/accounts/{acct}/keypairs",
                  {"scopes": ["feedback:read", "feedback:write"], "comment": f"bench {i}"}, bearer)
        if i == n // 2: picked = kp
    kp = picked
print(kp["client_id"], kp["client_secret"])
PY
)
read -r CLIENT_ID CLIENT_SECRET <<<"$CREDS"
export BENCH_AUTH="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
export BENCH_BODY="grant_type=client_credentials&scope=feedback:read"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $BENCH_AUTH" -d "$BENCH_BODY" "http://127.0.0.1:$KG_PORT/token")
[ "$code" = 200 ] || { echo "keygate refused the benchmark keypair ($code)" >&2; exit 1; }

# ---- floor ------------------------------------------------------------------------------
FLOOR_PORT=$(free_port)
"$FLOOR" "127.0.0.1:$FLOOR_PORT" >"$WORK/floor.log" 2>&1 &
PIDS+=("$!")
wait_http "http://127.0.0.1:$FLOOR_PORT/"

# ---- rounds -------------------------------------------------------------------------------
run_wrk() { # url -> WRK_SUMMARY json
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s bench/token.lua "$1" >/dev/null   # warm-up, not counted
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/token.lua "$1" | sed -n 's/^WRK_SUMMARY //p'
}
RESULTS="$OUT/rounds-$STORE-$KEYPAIRS.jsonl"
: >"$RESULTS"
for r in $(seq 1 "$ROUNDS"); do
  log "round $r/$ROUNDS: keygate ($STORE, $KEYPAIRS keypairs)"
  k=$(run_wrk "http://127.0.0.1:$KG_PORT/token")
  rss=$(awk '/VmHWM/{print $2}' "/proc/$KG_PID/status")
  echo "{\"round\":$r,\"target\":\"keygate\",\"peak_rss_kib\":$rss,\"wrk\":$k}" >>"$RESULTS"
  if [ "$PEER" = 1 ]; then
    log "round $r/$ROUNDS: peer (oidc-provider, 2 workers)"
    PEER_OUT="$WORK/peer-$r"; mkdir -p "$PEER_OUT"
    if WORKERS=2 DURATION="$DURATION" CONNECTIONS="$CONNECTIONS" THREADS="$THREADS" WARMUP=2 RESULTS_DIR="$PEER_OUT" \
        bash "$ROOT/../shared/peers/oidc-provider/run.sh" >"$PEER_OUT/log" 2>&1; then
      echo "{\"round\":$r,\"target\":\"peer\",\"wrk\":$(cat "$PEER_OUT"/oidc-provider-peer-*.json)}" >>"$RESULTS"
    else
      log "peer run failed (see below); continuing without it"; tail -5 "$PEER_OUT/log" >&2
    fi
  fi
  log "round $r/$ROUNDS: floor"
  f=$(run_wrk "http://127.0.0.1:$FLOOR_PORT/token")
  echo "{\"round\":$r,\"target\":\"floor\",\"wrk\":$f}" >>"$RESULTS"
done
grep -q '"non_2xx":[1-9]' "$RESULTS" && log "WARNING: non-2xx answers during the run"

# ---- summary --------------------------------------------------------------------------------
SUMMARY="$OUT/summary-$STORE-$KEYPAIRS.json"
STORE="$STORE" KEYPAIRS="$KEYPAIRS" CONNECTIONS="$CONNECTIONS" DURATION="$DURATION" ROUNDS="$ROUNDS" \
  python3 - "$RESULTS" "$SUMMARY" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(target, key):
    vals = [r["wrk"][key] for r in rows if r["target"] == target and key in r["wrk"]]
    return statistics.median(vals) if vals else None
out = {"store": os.environ["STORE"], "keypairs": int(os.environ["KEYPAIRS"]),
       "connections": int(os.environ["CONNECTIONS"]), "duration_s": int(os.environ["DURATION"]),
       "rounds": int(os.environ["ROUNDS"]), "median": {}, "ratios": {}}
for t in ("keygate", "peer", "floor"):
    rps, p50, p99 = med(t, "rps"), med(t, "lat_p50_ms"), med(t, "lat_p99_ms")
    if rps is not None:
        out["median"][t] = {"rps": round(rps, 1), "p50_ms": p50, "p99_ms": p99}
# Ratios pair by pair within a round, then the median (robust to machine drift).
def ratio(a, b, key):
    vals = []
    for r in range(1, out["rounds"] + 1):
        x = [o["wrk"][key] for o in rows if o["round"] == r and o["target"] == a]
        y = [o["wrk"][key] for o in rows if o["round"] == r and o["target"] == b]
        if x and y and y[0]: vals.append(x[0] / y[0])
    return round(statistics.median(vals), 3) if vals else None
out["ratios"]["keygate_over_peer_rps"] = ratio("keygate", "peer", "rps")
out["ratios"]["keygate_over_floor_rps"] = ratio("keygate", "floor", "rps")
out["ratios"]["keygate_over_floor_p99"] = ratio("keygate", "floor", "lat_p99_ms")
rss = [r["peak_rss_kib"] for r in rows if r["target"] == "keygate"]
out["keygate_peak_rss_mib"] = round(max(rss) / 1024, 1) if rss else None
json.dump(out, open(sys.argv[2], "w"), indent=1)
print(f'\n{"target":<10} {"req/s":>10} {"p50 ms":>8} {"p99 ms":>8}   (medians of {out["rounds"]} rounds, '
      f'{out["store"]}, {out["keypairs"]} keypairs, {out["connections"]} connections)')
for t, m in out["median"].items():
    print(f'{t:<10} {m["rps"]:>10.0f} {m["p50_ms"]:>8.2f} {m["p99_ms"]:>8.2f}')
for k, v in out["ratios"].items():
    print(f"{k:<26} {v}")
print(f'keygate peak RSS: {out["keygate_peak_rss_mib"]} MiB')
print(json.dumps(out))
PY
log "summary: $SUMMARY"
