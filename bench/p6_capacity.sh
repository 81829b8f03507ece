#!/usr/bin/env bash
# Budgets P6 (capacity of the deployed stack) and P5 (cost per million orders):
# measures the handlers' CPU per batch and the item and message sizes
# (tests/examples/capacity_probe.rs, release build), then computes the model
# of infra/CAPACITY.md from bench/capacity_inputs.json and the template's
# defaults. Prints `P6 capacity: ...` and `P5 cost: ...` lines, PASS or FAIL.
#
#   bench/p6_capacity.sh --markdown   the arithmetic tables of infra/CAPACITY.md
set -euo pipefail
cd "$(dirname "$0")/.."

measured=$(mktemp)
trap 'rm -f "$measured"' EXIT
"${CARGO:-cargo}" run --quiet --release -p orders-tests --example capacity_probe >"$measured"
out=$(python3 bench/capacity.py "$measured" "$@")
printf '%s\n' "$out"
if grep -q ' FAIL$' <<<"$out"; then exit 1; fi
