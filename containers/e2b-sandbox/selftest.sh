#!/bin/bash
# Checks the template without E2B and without Docker (README.md, "Checking
# it here"):
#   1. e2b.toml is valid TOML and passes the E2B CLI's own rules for its keys;
#   2. build.sh hands exactly those settings to the CLI (a stub `e2b`, both
#      the current `template create` and the legacy `template build`);
#   3. the start command, run as written in a local sbx sandbox (own network
#      namespace, so port 4444 is free) with the static server at the path the
#      Dockerfile installs it to, passes the ready command, and the server
#      answers as the template promises: a `run` action as `user` in
#      /home/user, and an IPython cell.
#
#   ./selftest.sh        (needs build/debug/sbx and build/release/sbx-server,
#                         or $SBX and $SBX_SERVER_BIN; run as root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sbx=${SBX:-$root/build/debug/sbx}
server=${SBX_SERVER_BIN:-$root/build/release/sbx-server}
python=/usr/bin/python3
tmp=$(mktemp -d)
id=

fail() {
    echo "selftest: FAIL: $*" >&2
    exit 1
}

cleanup() {
    if [ -n "$id" ]; then
        "$sbx" rm -f "$id" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

[ -x "$sbx" ] || fail "$sbx: no sbx (build the debug preset, or set SBX)"
[ -x "$server" ] || fail "$server: no static sbx-server (make release, or set SBX_SERVER_BIN)"

# 1. e2b.toml: TOML, and the CLI's schema (@e2b/cli: configSchema, and the
#    name and memory rules of `template create`).
"$python" - "$here/e2b.toml" >"$tmp/settings" <<'EOF' || fail "e2b.toml"
import re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    c = tomllib.load(f)
allowed = {"template_id", "template_name", "dockerfile", "start_cmd", "ready_cmd",
           "cpu_count", "memory_mb", "team_id"}
extra = set(c) - allowed
assert not extra, f"keys the E2B CLI does not know: {extra}"
assert "template_id" not in c, "template_id must stay out (build.sh, e2b.toml)"
assert re.fullmatch(r"[a-z0-9_-]+", c["template_name"]), "template_name: lowercase, digits, - and _"
assert isinstance(c["cpu_count"], int) and c["cpu_count"] >= 1, "cpu_count: an integer >= 1"
assert isinstance(c["memory_mb"], int) and c["memory_mb"] >= 128 and c["memory_mb"] % 2 == 0, \
    "memory_mb: an even integer >= 128"
for k in ("dockerfile", "start_cmd", "ready_cmd"):
    assert isinstance(c[k], str) and c[k] and "\n" not in c[k], f"{k}: a one-line string"
for k in ("template_name", "dockerfile", "start_cmd", "ready_cmd", "cpu_count", "memory_mb"):
    print(c[k])
EOF
mapfile -t s <"$tmp/settings"
name=${s[0]} dockerfile=${s[1]} start_cmd=${s[2]} ready_cmd=${s[3]} cpus=${s[4]} mem=${s[5]}
echo "selftest: e2b.toml ok (template '$name')"

# 2. build.sh with a stub CLI: the arguments it would run. On a copy of this
#    directory, since build.sh puts sbx-server next to the Dockerfile.
ctx=$tmp/repo/containers/e2b-sandbox
mkdir -p "$tmp/bin" "$ctx"
cp "$here/build.sh" "$here/e2b.toml" "$here/$dockerfile" "$ctx/"
cat >"$tmp/bin/e2b" <<'EOF'
#!/bin/sh
case "$STUB_MODE:$1 $2" in
new:"template create" | legacy:"template build") ;;
*) exit 1 ;;
esac
for a in "$@"; do [ "$a" = --help ] && exit 0; done
printf '%s\n' "$@" >"$STUB_OUT"
EOF
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/docker"
chmod +x "$tmp/bin/e2b" "$tmp/bin/docker"
check_args() { # mode, expected argument lines
    local mode=$1
    shift
    rm -f "$tmp/args"
    PATH="$tmp/bin:$PATH" STUB_MODE=$mode STUB_OUT=$tmp/args E2B=e2b SBX_SERVER_BIN=$server \
        "$ctx/build.sh" --no-make >/dev/null || fail "build.sh ($mode CLI) failed"
    cmp -s "$server" "$ctx/sbx-server" || fail "build.sh did not copy $server next to the Dockerfile"
    printf '%s\n' "$@" >"$tmp/want"
    diff -u "$tmp/want" "$tmp/args" >&2 || fail "build.sh ($mode CLI): unexpected arguments"
}
check_args new template create "$name" --path "$ctx" --dockerfile "$dockerfile" \
    --cmd "$start_cmd" --ready-cmd "$ready_cmd" --cpu-count "$cpus" --memory-mb "$mem"
check_args legacy template build --path "$ctx" --config "$ctx/.e2b-legacy.toml" \
    --name "$name" --dockerfile "$dockerfile" \
    --cmd "$start_cmd" --ready-cmd "$ready_cmd" --cpu-count "$cpus" --memory-mb "$mem"
echo "selftest: build.sh passes e2b.toml's settings to both CLIs"

# 3. The start and ready commands in a local sandbox.
grep -q '^COPY sbx-server /usr/local/bin/sbx-server$' "$here/$dockerfile" ||
    fail "$dockerfile no longer installs /usr/local/bin/sbx-server: update this test"
export SBX_STATE_DIR=$tmp/state
id=$("$sbx" create --network none --label purpose=e2b-selftest) || fail "sbx create"
"$sbx" cp "$server" "$id:/usr/local/bin/sbx-server" || fail "sbx cp sbx-server"
"$sbx" exec --raw "$id" -- chmod 0755 /usr/local/bin/sbx-server </dev/null
"$sbx" exec --raw "$id" -- /bin/bash -c "nohup $start_cmd >/tmp/start_cmd.log 2>&1 &" </dev/null ||
    fail "start_cmd did not start"
ready=0
for _ in $(seq 1 100); do
    if "$sbx" exec --raw "$id" -- /bin/bash -c "$ready_cmd" </dev/null >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    "$sbx" exec --raw "$id" -- cat /tmp/start_cmd.log >&2 || true
    fail "ready_cmd never passed"
fi
act() { # action JSON -> observation JSON
    "$sbx" exec --raw "$id" -- curl -fsS --max-time 60 -H 'Content-Type: application/json' \
        -d "{\"action\": $1}" http://127.0.0.1:4444/execute_action </dev/null
}
# shellcheck disable=SC2016 # $USER and $HOME are for the sandbox's shell
obs=$(act '{"action": "run", "args": {"command": "id -u; echo $USER $HOME; pwd"}, "timeout": 30}') ||
    fail "run action"
"$python" -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["observation"] == "run", o
# By uid, not name: the host passwd under the local sandbox may already
# name uid 1000 differently; on E2B it is "user".
assert o["content"].split() == ["1000", "user", "/home/user", "/home/user"], o["content"]
assert o["extras"]["metadata"]["exit_code"] == 0, o["extras"]
' "$obs" || fail "run action: not uid 1000 (user) in /home/user: $obs"
obs=$(act '{"action": "run_ipython", "args": {"code": "print(6 * 7)"}, "timeout": 60}') ||
    fail "run_ipython action"
"$python" -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["observation"] == "run_ipython", o
assert "42" in o["content"], o["content"]
' "$obs" || fail "run_ipython action: $obs"
echo "selftest: start_cmd serves as user in /home/user on 4444, ready_cmd sees it, IPython works"
echo "selftest: ok"
