#!/usr/bin/env bash
# The official E2B JS SDK (npm e2b, pinned in tests/sdk/package-lock.json)
# against `sbx serve e2b` on local sandboxes: starts the face on an ephemeral
# port with a temporary state directory, runs the node:test scenarios in
# tests/sdk/e2b/, stops the face with SIGTERM and checks that it exited 0 and
# left no sandbox behind. See tests/sdk/README.md.
#
# env: SBX_CLI     the sbx binary (default: build/debug/sbx of this tree)
#      SBX_SERVER  sbx-server for the local backend (exported as SBX_SERVER_BIN)
#      SBX_SDK_TESTS  test files to run instead of all of tests/sdk/e2b/
# exit: 0 all passed, 1 a failure, 77 skipped (node or the npm packages missing)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cli=${SBX_CLI:-$root/build/debug/sbx}

if ! command -v node >/dev/null; then
    echo "run-e2b: SKIP: node is not installed" >&2
    exit 77
fi
if [ ! -f "$here/node_modules/e2b/package.json" ]; then
    echo "run-e2b: SKIP: the e2b SDK is not installed; run: make sdk-deps (or npm ci --prefix tests/sdk)" >&2
    exit 77
fi
if [ ! -x "$cli" ]; then
    echo "run-e2b: sbx binary '$cli' not found (set SBX_CLI or build the debug preset)" >&2
    exit 1
fi
[ -n "${SBX_SERVER:-}" ] && export SBX_SERVER_BIN="$SBX_SERVER"

state=$(mktemp -d "${TMPDIR:-/tmp}/sbx-sdk-e2b.XXXXXX")
out="$state/face.out"
face_pid=
# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
    if [ -n "$face_pid" ] && kill -0 "$face_pid" 2>/dev/null; then
        kill -TERM "$face_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$face_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$face_pid" 2>/dev/null
    fi
    # a failed run may leave sandboxes: remove them so nothing outlives the test
    SBX_STATE_DIR="$state/state" "$cli" rm --all >/dev/null 2>&1 || true
    rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$state/state"
export SBX_STATE_DIR="$state/state"
key="e2b_$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')"

"$cli" serve e2b --port 0 --api-key "$key" >"$out" 2>"$state/face.err" &
face_pid=$!

port=
for _ in $(seq 1 300); do
    port=$(sed -n 's|^sbx serve e2b: listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$out" | head -1)
    [ -n "$port" ] && break
    if ! kill -0 "$face_pid" 2>/dev/null; then
        echo "run-e2b: '$cli serve e2b' exited before listening:" >&2
        cat "$state/face.err" >&2
        face_pid=
        exit 1
    fi
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "run-e2b: '$cli serve e2b' printed no listening line within 30 s" >&2
    cat "$state/face.err" >&2
    exit 1
fi

export E2B_API_URL="http://127.0.0.1:$port"
export E2B_SANDBOX_URL="http://127.0.0.1:$port"
# getHost(port) = <port>-<id>.<domain>, domain from the create answer, else
# this; both must be the face's default "localhost:<port>"
export E2B_DOMAIN="localhost:$port"
export E2B_API_KEY="$key"
unset E2B_DEBUG E2B_ACCESS_TOKEN

rc=0
cd "$root" || exit 1
# shellcheck disable=SC2086
node --test --test-concurrency=1 ${SBX_SDK_TESTS:-tests/sdk/e2b/} || rc=1

kill -TERM "$face_pid"
face_rc=
for _ in $(seq 1 300); do
    if ! kill -0 "$face_pid" 2>/dev/null; then
        wait "$face_pid"
        face_rc=$?
        break
    fi
    sleep 0.1
done
if [ -z "$face_rc" ]; then
    echo "run-e2b: FAIL: the face did not exit within 30 s of SIGTERM" >&2
    rc=1
elif [ "$face_rc" -ne 0 ]; then
    echo "run-e2b: FAIL: the face exited $face_rc after SIGTERM (want 0)" >&2
    rc=1
fi
face_pid=

if ! left=$("$cli" ls --json 2>&1); then
    echo "run-e2b: FAIL: sbx ls --json on the face's state dir failed: $left" >&2
    rc=1
elif [ "$(tr -d ' \n\t' <<<"$left")" != "[]" ]; then
    echo "run-e2b: FAIL: sandboxes left behind after the suite:" >&2
    echo "$left" >&2
    rc=1
fi

if [ "$rc" -ne 0 ] && [ -s "$state/face.err" ]; then
    echo "--- sbx serve e2b stderr (last 50 lines) ---" >&2
    tail -n 50 "$state/face.err" >&2
fi
[ "$rc" -eq 0 ] && echo "run-e2b: PASS"
exit "$rc"
