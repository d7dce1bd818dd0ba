#!/usr/bin/env bash
# tests/bench/run.sh [SERVER]: benchmark an sbx-server binary and print a table.
#
#   SERVER  default build/release/sbx-server, else build/debug/sbx-server (repo-relative)
#
# Measures: binary size, start-to-first-/alive-200 (median of SBX_BENCH_STARTS starts, default
# 20), idle VmRSS after startup and after the latency run, `run` "echo hi" latency over one
# keep-alive connection (SBX_BENCH_N actions, default 10000, after 200 warm-up) and the PTY-bash
# floor measured in the same run (plus, for information, the floor with the stock OpenHands PS1,
# SBX_BENCH_PS1_N commands, default 2000). Nothing is asserted: the exit status is 1 only if the latency
# driver saw errors (or the server could not be started at all), else 0.
# Every process started here is killed on exit.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${SBX_BENCH_N:-10000}
STARTS=${SBX_BENCH_STARTS:-20}
WARMUP=${SBX_BENCH_WARMUP:-200}
PS1_N=${SBX_BENCH_PS1_N:-2000}

die() { echo "run.sh: $*" >&2; exit 1; }

server=${1:-}
if [[ -z $server ]]; then
    if [[ -x $root/build/release/sbx-server ]]; then
        server=$root/build/release/sbx-server
    else
        server=$root/build/debug/sbx-server
    fi
fi
[[ -x $server ]] || die "no server binary at $server (build it, or pass its path)"
server=$(cd "$(dirname "$server")" && pwd)/$(basename "$server")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench.XXXXXX")
workdir=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench-wd.XXXXXX")
server_pid=

# All descendants of a pid (children first found, then theirs), from /proc.
descendants() {
    local parent=$1 stat pid rest ppid kids=()
    for stat in /proc/[0-9]*/stat; do
        read -r rest <"$stat" 2>/dev/null || continue
        pid=${rest%% *}
        rest=${rest##*) }          # comm may contain spaces; fields after ") " are fixed
        ppid=$(cut -d' ' -f2 <<<"$rest")
        [[ $ppid == "$parent" ]] && kids+=("$pid")
    done
    for pid in "${kids[@]}"; do
        echo "$pid"
        descendants "$pid"
    done
}

stop_server() {
    [[ -n $server_pid ]] || return 0
    local victims i
    victims=$(descendants "$server_pid")
    kill -TERM -- "-$server_pid" 2>/dev/null || kill -TERM "$server_pid" 2>/dev/null
    for ((i = 0; i < 200; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.01
    done
    kill -KILL -- "-$server_pid" 2>/dev/null
    # The server's bash may live in its own session (setsid + PTY): make sure it is gone too.
    # shellcheck disable=SC2086
    [[ -n $victims ]] && kill -KILL $victims 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
}

cleanup() {
    stop_server
    rm -rf "$tmp" "$workdir" "${clean_home:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- locate (or build) the drivers -----------------------------------------------------------
find_tool() {
    local name=$1 d
    for d in "$(dirname "$server")/tests/bench" "$root/build/release/tests/bench" \
             "$root/build/debug/tests/bench"; do
        if [[ -x $d/$name ]]; then echo "$d/$name"; return 0; fi
    done
    # Not built (e.g. benchmarking a server from another tree): compile the one libc-only file.
    local src=$here/bench_${name#sbx-bench-}.c
    ${CC:-cc} -std=c17 -D_GNU_SOURCE -O2 -o "$tmp/$name" "$src" "$here/bench_util.c" || return 1
    echo "$tmp/$name"
}
lat_bin=$(find_tool sbx-bench-latency) || die "cannot build sbx-bench-latency"
start_bin=$(find_tool sbx-bench-startup) || die "cannot build sbx-bench-startup"

server_args=(0 --working-dir "$workdir" --username root --user-id 0)

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
tree_rss_kb() {
    local total=0 p v
    for p in "$1" $(descendants "$1"); do
        v=$(rss_kb "$p"); total=$((total + ${v:-0}))
    done
    echo "$total"
}
kib() { [[ -n $1 && $1 != 0 ]] && awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}' || echo n/a; }

echo "server:  $server" >&2
echo "drivers: $lat_bin, $start_bin" >&2

# ---- 1. binary size --------------------------------------------------------------------------
size_bytes=$(stat -c %s "$server")
case $(file -b "$server" 2>/dev/null) in
    ELF*static*) linkage=static ;;
    ELF*dynamic*) linkage=dynamic ;;
    *) linkage="not ELF" ;;
esac

# ---- 2. startup: median of $STARTS starts ----------------------------------------------------
echo "startup: $STARTS starts..." >&2
startup_line=$("$start_bin" --runs "$STARTS" -- "$server" "${server_args[@]}")
startup_rc=$?
echo "$startup_line" >&2
startup_ms=$(sed -n 's/.* median_ms=\([^ ]*\).*/\1/p' <<<"$startup_line")
startup_fail=$(sed -n 's/.* failures=\([^ ]*\).*/\1/p' <<<"$startup_line")
# The same with an empty home for the session's bash (no ~/.bashrc, no su):
# sbx-server's own start-up cost, whatever the host's dotfiles do.
clean_home=$(mktemp -d)
clean_line=$(HOME=$clean_home SU_TO_USER=false "$start_bin" --runs "$STARTS" -- "$server" "${server_args[@]}")
echo "$clean_line" >&2
clean_ms=$(sed -n 's/.* median_ms=\([^ ]*\).*/\1/p' <<<"$clean_line")

# ---- 3. one long-lived server for RSS and latency --------------------------------------------
# Its bash gets the empty home too: the floor's bash runs --norc, so both
# sides of the ratio run the same bash configuration (a host's ~/.bashrc,
# with pyenv's long PATH say, would be measured on one side only).
set -m # own process group, so the whole tree can be signalled
HOME=$clean_home SU_TO_USER=false "$server" "${server_args[@]}" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
set +m
port=
for ((i = 0; i < 1000; i++)); do
    port=$(sed -n 's/.*sbx-server listening on .*:\([0-9][0-9]*\).*/\1/p' "$tmp/server.out" | head -1)
    [[ -n $port ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.01
done
alive=0
if [[ -n $port ]]; then
    for ((i = 0; i < 1000; i++)); do
        if exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
            printf 'GET /alive HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
            IFS= read -r -t 2 status_line <&3 || status_line=
            exec 3<&- 3>&-
            if [[ $status_line == HTTP/1.?\ 200* ]]; then alive=1; break; fi
        fi
        sleep 0.01
    done
fi

lat_out=
lat_rc=0
rss_start=
rss_after=
tree_start=
tree_after=
if ((alive)); then
    sleep 0.5 # let startup work (bash init) settle before calling the RSS "idle"
    rss_start=$(rss_kb "$server_pid")
    tree_start=$(tree_rss_kb "$server_pid")
    echo "latency: $N actions + $WARMUP warm-up against port $port, then the floor..." >&2
    lat_out=$("$lat_bin" --port "$port" -n "$N" --warmup "$WARMUP")
    lat_rc=$?
    sleep 0.5
    rss_after=$(rss_kb "$server_pid")
    tree_after=$(tree_rss_kb "$server_pid")
else
    echo "run.sh: server did not come up (port '${port}'); stdout/stderr:" >&2
    head -c 2000 "$tmp/server.out" "$tmp/server.err" >&2
    echo "run.sh: measuring the floor only" >&2
    lat_out=$("$lat_bin" --floor -n "$N" --warmup "$WARMUP")
    lat_rc=1
fi
echo "$lat_out" >&2
stop_server

# Informational: the floor again, but with the stock OpenHands PS1 (two forks per prompt).
echo "floor with the stock OpenHands PS1: $PS1_N commands..." >&2
ps1_out=$("$lat_bin" --floor-ps1 --no-floor -n "$PS1_N" --warmup 20)
echo "$ps1_out" >&2
lat_out+=$'\n'$ps1_out

# ---- 4. table --------------------------------------------------------------------------------
field() { sed -n "s/^$1 .* $2=\([^ ]*\).*/\1/p" <<<"$lat_out"; }
ms() { [[ -n $1 ]] && awk -v u="$1" 'BEGIN {printf "%.3f ms", u / 1000}' || echo n/a; }
s_p50=$(field server p50_us); s_p90=$(field server p90_us); s_p99=$(field server p99_us)
s_max=$(field server max_us); s_err=$(field server errors)
f_p50=$(field floor p50_us); f_p90=$(field floor p90_us); f_p99=$(field floor p99_us)
f_max=$(field floor max_us); f_err=$(field floor errors)
ratio=
if [[ -n $s_p50 && -n $f_p50 ]]; then
    ratio=$(awk -v s="$s_p50" -v f="$f_p50" 'BEGIN {printf "%.2fx", s / f}')
fi

row() { printf '%-34s %-26s %s\n' "$1" "$2" "$3"; }
echo
row "metric" "value" "goal"
row "------" "-----" "----"
row "binary size ($linkage)" "$(awk -v b="$size_bytes" 'BEGIN {printf "%.2f MiB", b / 1048576}') ($size_bytes B)" "-"
row "startup to /alive 200 (median)" "${startup_ms:-n/a}${startup_ms:+ ms}" "-"
row "  the same, empty ~ (no .bashrc)" "${clean_ms:-n/a}${clean_ms:+ ms}" "< 20 ms"
row "idle RSS after startup" "$(kib "$rss_start")" "-"
row "idle RSS after latency run" "$(kib "$rss_after")" "-"
row "  server+children RSS, start/after" "$(kib "$tree_start") / $(kib "$tree_after")" "-"
row "run echo hi p50" "$(ms "$s_p50")" "<= 0.500 ms"
row "run echo hi p90" "$(ms "$s_p90")" "-"
row "run echo hi p99" "$(ms "$s_p99")" "-"
row "run echo hi max" "$(ms "$s_max")" "-"
row "run errors" "${s_err:-n/a}" "0"
row "floor (PTY bash) p50" "$(ms "$f_p50")" "-"
row "floor p90 / p99 / max" "$(ms "$f_p90") / $(ms "$f_p99") / $(ms "$f_max")" "-"
row "floor errors" "${f_err:-n/a}" "0"
row "floor, stock OpenHands PS1 p50/p99" "$(ms "$(field floorps1 p50_us)") / $(ms "$(field floorps1 p99_us)")" "- (info)"
row "ratio p50 server / floor" "${ratio:-n/a}" "<= 3x"
echo "(latency: $N actions after $WARMUP warm-up over one keep-alive connection; startup: median" \
     "of $STARTS starts, ${startup_fail:-?} failed, exit $startup_rc)"

((lat_rc == 0)) || exit 1
exit 0
