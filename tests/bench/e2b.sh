#!/usr/bin/env bash
# tests/bench/e2b.sh [BUILD]: round trips through `sbx serve e2b`, next to the
# same work on local directly, in one run (medians and ratios; nothing asserted).
#
#   BUILD  default build/release (needs sbx, sbx-server, tests/bench/sbx-bench-latency)
#
# Rows:
#   local direct   `run` "echo hi" to sbx-server of a local sandbox, over its unix socket
#   e2b direct     the same to the sbx-server the e2b provider bootstrapped in a face
#                  sandbox, straight to its TCP port (local backend: the host's loopback)
#   e2b direct/c   e2b direct with a new connection per action
#   e2b proxy/c    the same through the face's port proxy (Host 4444-<id>.localhost:P), which
#                  answers one request per connection (each is routed and checked on its own)
#   envd           one Process/Start of `bash -l -c true` through the face's envd
#                  (what commands.run sends), tests/bench/e2b_envd.py
#   spawn floor    `bash -l -c true` spawned on the host (the floor of the envd row)
# SBX_BENCH_N (default 2000) actions per sbx-server row, SBX_BENCH_ENVD_N (300) envd runs.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/release}
build=$(cd "$build" && pwd) || exit 2
N=${SBX_BENCH_N:-2000}
ENVD_N=${SBX_BENCH_ENVD_N:-300}
PY=/usr/bin/python3
sbx=$build/sbx
lat=$build/tests/bench/sbx-bench-latency
for f in "$sbx" "$build/sbx-server" "$lat"; do
    [[ -x $f ]] || { echo "e2b.sh: missing $f (build it first)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench-e2b.XXXXXX")
export SBX_STATE_DIR=$tmp/state SBX_SERVER_BIN=$build/sbx-server
face_pid=
cleanup() {
    "$sbx" rm --all >/dev/null 2>&1
    if [[ -n $face_pid ]]; then
        [[ -n ${eid:-} ]] && "$sbx" rm -p e2b "$eid" >/dev/null 2>&1
        kill -TERM "$face_pid" 2>/dev/null
        wait "$face_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$sbx" serve e2b --port 0 --api-key e2b_bench >"$tmp/face.out" 2>"$tmp/face.err" &
face_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$tmp/face.out" 2>/dev/null && break
    sleep 0.05
done
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/face.out")
[[ -n $port ]] || { echo "e2b.sh: the face did not start: $(cat "$tmp/face.err")" >&2; exit 1; }
export E2B_API_KEY=e2b_bench E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port
export SBX_E2B_PORT_URL='http://{port}-{id}.{domain}'
export SBX_E2B_SERVER_PORT=${SBX_E2B_SERVER_PORT:-4487}

json_field() { $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
row() { # name output-of-sbx-bench-latency
    local p50 p99
    p50=$(sed -n 's/^server .*p50_us=\([0-9.]*\).*/\1/p' <<<"$2")
    p99=$(sed -n 's/^server .*p99_us=\([0-9.]*\).*/\1/p' <<<"$2")
    printf '%s %s %s\n' "$1" "$p50" "$p99" >>"$tmp/rows"
}

# local direct
lid=$("$sbx" create --json | json_field id) || exit 1
out=$("$lat" --unix "$SBX_STATE_DIR/local/$lid/server.sock" -n "$N" --warmup 100 --no-floor) || exit 1
row "local direct" "$out"

# e2b: a face sandbox with sbx-server bootstrapped by the e2b provider
eid=$("$sbx" create -p e2b --json | json_field id) || exit 1
"$sbx" exec -p e2b "$eid" -- true >/dev/null || { echo "e2b.sh: bootstrap failed" >&2; exit 1; }
# the session key and traffic token the provider keeps in the store (DESIGN: never logged)
facts=$(sqlite3 "$SBX_STATE_DIR/sbx.db" "select data from sandboxes where provider='e2b' and id='$eid'")
key=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["server_key"])' "$facts") || exit 1
tok=$($PY -c 'import json,sys; print(json.loads(sys.argv[1]).get("traffic_token") or "")' "$facts")
out=$(SESSION_API_KEY=$key "$lat" --port "$SBX_E2B_SERVER_PORT" -n "$N" --warmup 100 --no-floor) || exit 1
row "e2b direct" "$out"
# the proxy answers one request per connection (proxy.c): its row and its baseline both
# open a connection per action
out=$(SESSION_API_KEY=$key "$lat" --port "$SBX_E2B_SERVER_PORT" --per-request -n "$N" \
      --warmup 100 --no-floor) || exit 1
row "e2b direct/c" "$out"
out=$(SESSION_API_KEY=$key "$lat" --port "$port" --host-header "$SBX_E2B_SERVER_PORT-$eid.localhost:$port" \
      --header "e2b-traffic-access-token: $tok" --per-request -n "$N" --warmup 100 --no-floor) || exit 1
row "e2b proxy/c" "$out"

# envd: the token as the face hands it out
token=$($PY -c 'import json, sys, urllib.request as u
r = u.urlopen(u.Request(sys.argv[1], headers={"X-API-Key": "e2b_bench"}))
print(json.load(r)["envdAccessToken"])' "http://127.0.0.1:$port/sandboxes/$eid") || exit 1
out=$($PY "$here/e2b_envd.py" "$port" "$eid" "$token" "$ENVD_N") || exit 1
printf 'envd %s %s\n' "$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")" \
    "$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")" >>"$tmp/rows"
# the floor with an empty HOME, as in a fresh sandbox (a developer's own
# ~/.profile would measure itself)
mkdir -p "$tmp/home"
HOME=$tmp/home $PY - "$ENVD_N" >>"$tmp/rows" <<'PYEOF'
import subprocess, sys, time
n = int(sys.argv[1]); lat = []
for i in range(n + 10):
    t0 = time.perf_counter_ns()
    subprocess.run(["/bin/bash", "-l", "-c", "true"], check=True)
    if i >= 10:
        lat.append((time.perf_counter_ns() - t0) / 1000)
lat.sort()
print(f"spawn floor {lat[len(lat)//2]:.0f} {lat[min(len(lat)-1, int(0.99*len(lat)))]:.0f}")
PYEOF

$PY - "$tmp/rows" <<'PYEOF'
import sys
rows = [l.rsplit(" ", 2) for l in open(sys.argv[1]).read().splitlines()]
v = {r[0]: (float(r[1]), float(r[2])) for r in rows}
print(f"{'path':<14} {'p50 us':>9} {'p99 us':>9}  ratio")
base = {"local direct": "local direct", "e2b direct": "local direct",
        "e2b direct/c": "e2b direct/c", "e2b proxy/c": "e2b direct/c",
        "envd": "spawn floor", "spawn floor": "spawn floor"}
for name, (p50, p99) in v.items():
    b = v[base[name]][0]
    print(f"{name:<14} {p50:>9.0f} {p99:>9.0f}  {p50 / b:.2f}x {base[name]}")
PYEOF
