#!/usr/bin/env bash
# `make bench`: measures every performance budget on this machine and prints
# one line per budget (`P<n> <what>: <figure> (budget ...) PASS|FAIL`, plus
# `P<n> info:` lines for context), then writes them to bench/RESULTS.md with
# the date and the machine.
#
# It builds the release binaries (the profile that ships), runs the criterion
# per-order benchmarks, runs bench/measure.py (P1, P1b, P2, P3), then every
# executable bench/p*.sh in name order, each printing its own budget lines.
# The exit status is non-zero when any budget line says FAIL.
#
#   BENCH_ROUNDS=20        cold starts per function for P1 (median)
#   BENCH_INVOCATIONS=1000 invocations per function for the peak RSS of P2
#   BENCH_LOG=FILE         keep the functions' own log lines (default: dropped)
set -euo pipefail

cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
PYTHON=$PWD/.venv/bench/bin/python
MOTO_SERVER=${MOTO_SERVER:-$PWD/.venv/moto/bin/moto_server}
RESULTS=bench/RESULTS.md

for tool in "$PYTHON" "$MOTO_SERVER"; do
    [[ -x $tool ]] || { echo "bench: $tool missing: run \`make bench\`" >&2; exit 1; }
done

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

echo "bench: release build (functions, floor, runtime API emulator)" >&2
"$CARGO" build --quiet --release -p intake -p worker -p notifier -p orders-bench --bins

echo "bench: criterion per-order benchmarks" >&2
"$CARGO" bench --quiet -p orders-bench --bench per_order >&2

echo "bench: cold starts, first requests, memory, sizes" >&2
log_args=()
[[ -n ${BENCH_LOG:-} ]] && log_args=(--log "$BENCH_LOG")
"$PYTHON" bench/measure.py \
    --emu "$TARGET_DIR/release/lambda-emu" \
    --bin-dir "$TARGET_DIR/release" \
    --moto-server "$MOTO_SERVER" \
    --criterion-dir "$TARGET_DIR/criterion" \
    "${log_args[@]}" | tee -a "$lines"

# The other budgets' scripts: their budget lines are collected, anything else
# they print goes to stderr.
out=$(mktemp)
trap 'rm -f "$lines" "$out"' EXIT
for script in bench/p*.sh; do
    [[ -f $script && -x $script ]] || continue
    echo "bench: $script" >&2
    status=0
    "$script" > "$out" || status=$?
    grep -vE '^P[0-9]+[a-z]? ' "$out" >&2 || true
    grep -E '^P[0-9]+[a-z]? ' "$out" | tee -a "$lines" || true
    if (( status != 0 )) && ! grep -q ' FAIL$' "$out"; then
        echo "P? $script: exited with status $status FAIL" | tee -a "$lines"
    fi
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
    echo "# Benchmark results"
    echo
    echo "Written by \`make bench\` (bench/run.sh); see bench/README.md."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr)"
    echo "- rustc: $(rustc --version)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo
    echo '```'
    cat "$lines"
    echo '```'
} > "$RESULTS"

echo
echo "bench: results in $RESULTS"
cat "$lines"
! grep -q ' FAIL$' "$lines"
