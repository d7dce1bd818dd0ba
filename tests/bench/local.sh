#!/usr/bin/env bash
# tests/bench/local.sh [BUILD_DIR]: benchmark local sandboxes and print a table.
#
#   BUILD_DIR  default build/release, else build/debug (repo-relative): where sbx, sbx-server
#              and tests/bench/sbx-bench-local are
#
# 1. C API (sbx-bench-local): sbx_runtime_open -> first `run` observation -> close(DELETE),
#    SBX_BENCH_LOCAL_N rounds (default 50), p50/p99 split into create / alive / first
#    observation / delete.
# 2. Command line, in the same run: `sbx run -- true` next to `unshare -Urmpf --mount-proc true`
#    and `bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true`, with hyperfine when
#    it is installed, else a loop that takes medians (SBX_BENCH_CLI_RUNS runs, default 30);
#    prints the ratios to both baselines.
# 3. Density (sbx-bench-local --density): SBX_BENCH_DENSITY idle sandboxes (default 200) at
#    once: memory in total and per sandbox, time to create and to delete them all.
#
# Nothing is asserted. Exit status 1 only when a measurement could not be made at all.
# Everything runs against a temporary state directory, removed (with any sandbox left in it)
# on exit. bubblewrap is installed with apt-get when missing and running as root.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${SBX_BENCH_LOCAL_N:-50}
RUNS=${SBX_BENCH_CLI_RUNS:-30}
DENSITY=${SBX_BENCH_DENSITY:-200}
PY=/usr/bin/python3

die() { echo "local.sh: $*" >&2; exit 1; }

build=${1:-}
if [[ -z $build ]]; then
    if [[ -x $root/build/release/sbx ]]; then build=$root/build/release; else build=$root/build/debug; fi
fi
build=$(cd "$build" && pwd) || die "no build directory $build"
sbx=$build/sbx
server=$build/sbx-server
bench=$build/tests/bench/sbx-bench-local
[[ -x $sbx ]] || die "no sbx in $build (build it first)"
[[ -x $server ]] || die "no sbx-server in $build"
[[ -x $bench ]] || die "no tests/bench/sbx-bench-local in $build"

state=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench-local.XXXXXX")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench-out.XXXXXX")
export SBX_STATE_DIR=$state SBX_SERVER_BIN=$server
unset SBX_PROVIDER

cleanup() {
    "$sbx" rm --all >/dev/null 2>&1
    rm -rf "$state" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v bwrap >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "local.sh: installing bubblewrap for the baseline..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap \
        >/dev/null 2>&1 || echo "local.sh: could not install bubblewrap" >&2
fi

failed=0

# ---- 1. C API ----------------------------------------------------------------------------------
echo "C API: $N rounds of open -> run true -> close(delete)..." >&2
api_out=$("$bench" -n "$N" --server "$server" --state-dir "$state") || failed=1
echo "$api_out" >&2
api() { sed -n "s/^local_$1 .* $2=\([^ ]*\).*/\1/p" <<<"$api_out"; }

# ---- 2. command line vs baselines --------------------------------------------------------------
names=("sbx run -- true" "unshare -Urmpf --mount-proc true")
cmds=("$sbx run -- true" "unshare -Urmpf --mount-proc true")
if command -v bwrap >/dev/null; then
    names+=("bwrap --unshare-all ... true")
    cmds+=("bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true")
fi
# Each command once first: a failing one is reported, not timed.
for i in "${!cmds[@]}"; do
    if ! ${cmds[$i]} >/dev/null 2>"$tmp/err"; then
        echo "local.sh: '${cmds[$i]}' fails here: $(head -c 300 "$tmp/err")" >&2
        [[ $i == 0 ]] && failed=1
        unset 'cmds[i]' 'names[i]'
    fi
done
cmds=("${cmds[@]}"); names=("${names[@]}")

declare -A med
if command -v hyperfine >/dev/null; then
    echo "command line: hyperfine, $RUNS runs each..." >&2
    hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$tmp/h.json" "${cmds[@]}" >&2 || failed=1
    while IFS=$'\t' read -r idx ms; do med[$idx]=$ms; done < <("$PY" - "$tmp/h.json" <<'EOF'
import json, sys
for i, r in enumerate(json.load(open(sys.argv[1]))["results"]):
    print(f"{i}\t{r['median'] * 1000:.2f}")
EOF
)
    how="hyperfine -N, median of $RUNS"
else
    echo "command line: no hyperfine, a loop of $RUNS runs each..." >&2
    for i in "${!cmds[@]}"; do
        : >"$tmp/t$i"
        for ((r = 0; r < RUNS; r++)); do
            t0=$(date +%s%N); ${cmds[$i]} >/dev/null 2>&1; t1=$(date +%s%N)
            echo $(((t1 - t0) / 1000)) >>"$tmp/t$i"
        done
        med[$i]=$(sort -n "$tmp/t$i" | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000}')
    done
    how="loop, median of $RUNS"
fi

# ---- 3. density --------------------------------------------------------------------------------
echo "density: $DENSITY idle sandboxes..." >&2
dens_out=$("$bench" --density "$DENSITY" --server "$server" --state-dir "$state") || failed=1
echo "$dens_out" >&2
dens() { sed -n "s/^$1 .*[ ]$2=\([^ ]*\).*/\1/p" <<<"$dens_out"; }

# ---- table -------------------------------------------------------------------------------------
ms() { [[ -n $1 ]] && awk -v u="$1" 'BEGIN {printf "%.2f ms", u / 1000}' || echo n/a; }
row() { printf '%-40s %-28s %s\n' "$1" "$2" "$3"; }
echo
row "metric" "value" "goal"
row "------" "-----" "----"
for part in create bootstrap alive open first_obs ready delete; do
    row "C API $part p50 / p99" "$(ms "$(api "$part" p50_us)") / $(ms "$(api "$part" p99_us)")" \
        "$([[ $part == ready ]] && echo "p50 <= 10 ms" || echo -)"
done
row "C API rounds / errors" "$N / $(sed -n 's/^local_rounds .* errors=\([^ ]*\).*/\1/p' <<<"$api_out")" "errors 0"
for i in "${!cmds[@]}"; do
    row "${names[$i]}" "${med[$i]:-n/a} ms" "-"
done
if [[ -n ${med[0]:-} ]]; then
    for i in "${!cmds[@]}"; do
        ((i == 0)) && continue
        [[ -n ${med[$i]:-} ]] || continue
        row "  ratio sbx run / ${names[$i]%% *}" \
            "$(awk -v a="${med[0]}" -v b="${med[$i]}" 'BEGIN {printf "%.2fx", a / b}')" "-"
    done
fi
row "density: sandboxes made / errors" "$(dens density made) / $(dens density errors)" "$DENSITY / 0"
row "density: create all / delete all" "$(dens density create_all_ms) ms / $(dens density delete_all_ms) ms" "-"
row "density: cgroup memory per sandbox" "$(dens density_memory cgroup_per_sandbox_kib) KiB" "<= 4096 KiB"
row "density: MemAvailable drop per sandbox" "$(dens density_memory memavailable_per_sandbox_kib) KiB" "-"
row "density: cgroup total / MemAvailable drop" "$(dens density_memory cgroup_total_kib) / $(dens density_memory memavailable_drop_kib) KiB" "-"
echo "(C API: $N rounds after 3 warm-up; command line: $how; state dir $state)"
exit "$failed"
