#!/usr/bin/env bash
# CPU instructions of one POST /token request, end to end on the real server: keygate
# runs under `valgrind --tool=callgrind` on SQLite, a client outside valgrind (python3,
# one keep-alive connection) sends N token requests, the server is stopped and the
# instructions callgrind counted (every thread: actix, the handler, logging, the
# background tasks) are printed. Per request = the difference between two values of N
# divided by the difference in N, so start-up and shutdown cancel out.
# See docs/benchmarks.md, "Status claim cost".
#
# Usage: bench/token-instructions.sh [--keygate PATH] [--runs R] [--idle SECONDS]
#                                    [--out DIR] [--prepare-with PATH] N...
#   --keygate PATH    the binary to measure (default target/release/keygate; build it
#                     with `cargo build --release -p keygate`)
#   --runs R          measure every N this many times (default 2), each on a fresh copy
#                     of the same prepared database
#   --idle SECONDS    keep the server running this long after the requests (default 0):
#                     with N = 0, two values show what the background tasks cost per
#                     second of wall time
#   --prepare-with PATH  prepare the database with this binary instead (same schema),
#                     for a build whose admin API cannot run the set-up
#   --out DIR         keep callgrind's output of every run there, as
#                     callgrind-<N>-<run>.out-<thread> (for callgrind_annotate)
# Prints one line per run: `N=<n> run=<r> instructions=<all threads> seconds=<wall>
# requests=<wall time of the requests> threads=<thread>:<instructions>,...`, then for
# each pair of consecutive N of each run the instructions per request: of the whole
# process, and of the HTTP worker thread alone (which leaves out the background tasks,
# whose ticks follow wall time, not requests).
#
# The database is prepared once (operator keypair by `keygate bootstrap`, one account,
# one keypair, its first token) by the same binary running natively; its `last_used_at`
# is then cleared, so every run writes it exactly once, at its first token. Settings
# common to every run: one HTTP worker (so the keep-alive connection always meets the
# same thread), the longest keypair cache TTL (60 s: with the default 1 s a reload from
# the database every second of wall time lands in the count, and a request under
# valgrind is ~50 times slower; a run must therefore end within a minute), logs at
# `warn`.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYGATE="target/release/keygate" RUNS=2 IDLE=0 OUT="" PREPARE="" NS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keygate) KEYGATE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --prepare-with) PREPARE=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) NS+=("$1"); shift ;;
  esac
done
[ ${#NS[@]} -ge 1 ] || { echo "usage: $0 [--keygate PATH] [--runs R] [--idle SECONDS] N..." >&2; exit 2; }
KEYGATE=$(realpath "$KEYGATE")
PREPARE=$(realpath "${PREPARE:-$KEYGATE}")
if [ -n "$OUT" ]; then mkdir -p "$OUT" && OUT=$(realpath "$OUT"); fi
command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

WORK=$(mktemp -d -t keygate-instr.XXXXXX)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export KEYGATE_LISTEN="127.0.0.1:$PORT" KEYGATE_ISSUER="http://127.0.0.1:$PORT"
export KEYGATE_DATABASE_URL="sqlite://$WORK/db/keygate.db"
export KEYGATE_KEY_ENCRYPTION_KEY_FILE="$WORK/db/kek" KEYGATE_KEY_ENCRYPTION_KEY=""
export KEYGATE_SERVER_WORKERS=1 KEYGATE_DATABASE_KEYPAIR_CACHE_TTL_MS=60000 RUST_LOG=warn
export PORT

# The client: `wait` until /healthz answers, `setup` the keypair, `tokens N` on one
# keep-alive connection (every answer must be 200).
client() {
  python3 - "$@" <<'PY'
import base64, http.client, json, os, sys, time
host = "127.0.0.1:" + os.environ["PORT"]
def call(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
    return json.loads(data or b"null")
cmd = sys.argv[1]
if cmd == "wait":
    for _ in range(1200):
        try:
            c = http.client.HTTPConnection(host, timeout=60)
            call(c, "GET", "/healthz")
            c.close()
            sys.exit(0)
        except (ConnectionError, OSError):
            time.sleep(0.05)
    raise SystemExit("no answer from /healthz")
c = http.client.HTTPConnection(host, timeout=60)
form = {"Content-Type": "application/x-www-form-urlencoded"}
def basic(i, s):
    return "Basic " + base64.b64encode(f"{i}:{s}".encode()).decode()
if cmd == "setup":
    op = json.loads(os.environ["OPERATOR"])
    tok = call(c, "POST", "/token", "grant_type=client_credentials",
               {**form, "Authorization": basic(op["client_id"], op["client_secret"])})
    bearer = {"Authorization": "Bearer " + tok["access_token"], "Content-Type": "application/json"}
    acct = call(c, "POST", "/admin/v1/accounts", json.dumps({"name": "bench"}), bearer)["id"]
    kp = call(c, "POST", f"/admin/v1/accounts/{acct}/keypairs",
              json.dumps({"scopes": ["feedback:read", "feedback:write"], "comment": "bench"}), bearer)
    auth = basic(kp["client_id"], kp["client_secret"])
    call(c, "POST", "/token", "grant_type=client_credentials&scope=feedback:read", {**form, "Authorization": auth})
    print(auth)
elif cmd == "tokens":
    headers = {**form, "Authorization": os.environ["BENCH_AUTH"]}
    for _ in range(int(sys.argv[2])):
        call(c, "POST", "/token", "grant_type=client_credentials&scope=feedback:read", headers)
c.close()
PY
}

stop_server() {
  kill -INT "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
}

# ---- prepare the database once, natively -------------------------------------------------
mkdir -p "$WORK/db"
OPERATOR=$("$PREPARE" bootstrap 2>"$WORK/bootstrap.log") || { cat "$WORK/bootstrap.log" >&2; exit 1; }
"$PREPARE" serve >"$WORK/prepare.log" 2>&1 &
SERVER_PID=$!
client wait
BENCH_AUTH=$(OPERATOR="$OPERATOR" client setup)
export BENCH_AUTH
stop_server
python3 - "$WORK/db/keygate.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE keypairs SET last_used_at = NULL")
db.commit()
PY
cp -a "$WORK/db" "$WORK/prepared"

# ---- measure ------------------------------------------------------------------------------
RESULTS="$WORK/results"
: >"$RESULTS"
for r in $(seq 1 "$RUNS"); do
  for n in "${NS[@]}"; do
    rm -rf "$WORK/db" && cp -a "$WORK/prepared" "$WORK/db"
    out="$WORK/callgrind.out"
    t0=$(date +%s.%N)
    rm -f "$out"-*
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
        "$KEYGATE" serve >"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    client wait
    t1=$(date +%s.%N)
    client tokens "$n"
    t2=$(date +%s.%N)
    sleep "$IDLE"
    stop_server
    # One file per thread, numbered in creation order: <thread>:<instructions>,...
    threads=$(for f in "$out"-*; do printf '%d:%s,' "$((10#${f##*-}))" "$(sed -n 's/^summary: //p' "$f")"; done)
    [ -n "$threads" ] || { echo "no callgrind output; server log:" >&2; tail -20 "$WORK/serve.log" >&2; exit 1; }
    total=$(tr ',' '\n' <<<"$threads" | awk -F: '{s += $2} END {print s}')
    secs=$(python3 -c "print(f'{$t2 - $t0:.1f}')") reqsecs=$(python3 -c "print(f'{$t2 - $t1:.1f}')")
    if [ -n "$OUT" ]; then for f in "$out"-*; do cp "$f" "$OUT/callgrind-$n-$r.out-${f##*-}"; done; fi
    echo "N=$n run=$r instructions=$total seconds=$secs requests=$reqsecs threads=${threads%,}" | tee -a "$RESULTS"
    python3 -c "import sys; sys.exit($secs > 50)" || echo "warning: over 50 s; the keypair cache (60 s) may have reloaded" >&2
  done
done

python3 - "$RESULTS" <<'PY'
import re, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in open(sys.argv[1])]
for r in rows:
    r["threads"] = {int(t): int(i) for t, i in (x.split(":") for x in r["threads"].split(","))}
for run in sorted({r["run"] for r in rows}, key=int):
    rs = [r for r in rows if r["run"] == run]
    for a, b in zip(rs, rs[1:]):
        dn = int(b["N"]) - int(a["N"])
        if not dn:
            continue
        per = (int(b["instructions"]) - int(a["instructions"])) / dn
        # The HTTP worker: the thread whose count grew most with N.
        t = max(b["threads"], key=lambda t: b["threads"][t] - a["threads"].get(t, 0))
        worker = (b["threads"][t] - a["threads"].get(t, 0)) / dn
        print(f"run {run}: N {a['N']} -> {b['N']}: {per:,.0f} instructions per request, "
              f"{worker:,.0f} of them on thread {t} (the HTTP worker)")
PY
