#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, from its seed
# corpus in tests/fuzz/corpus/<name>/ (copied: the run may add inputs).
set -euo pipefail
build=${1:-build/fuzz}
secs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
found=0
for bin in "$build"/tests/fuzz_* "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    found=1
    name=$(basename "$bin")
    short=${name#fuzz_}
    work=$(mktemp -d)
    if [ -d "$root/tests/fuzz/corpus/$short" ]; then
        cp -r "$root/tests/fuzz/corpus/$short/." "$work/"
    fi
    echo "fuzz: $name for ${secs}s"
    ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -max_len=65536 \
        -print_final_stats=0 "$work" >"$work.log" 2>&1 || {
        tail -n 60 "$work.log"
        echo "fuzz: $name FAILED" >&2
        exit 1
    }
    grep -E "^Done|^#[0-9]+.*DONE" "$work.log" | tail -n 1 || true
    rm -rf "$work" "$work.log"
done
[ "$found" = 1 ] || { echo "fuzz: no targets in $build" >&2; exit 1; }
