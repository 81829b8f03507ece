#!/usr/bin/env bash
# Budgets P6 (capacity of the deployed stack, >= 10,000 orders/s with the
# sale's parameters) and P5 (cost per million orders, at most a fifth of the
# old design's): measures the handlers' CPU per batch and the item and message
# sizes (tests/examples/capacity_probe.rs, release build), then computes the
# model of infra/CAPACITY.md from bench/capacity_inputs.json, the template and
# the admin-digest settings. Prints `P6 capacity: N orders/s` and
# `P5 cost: $X per million` lines, PASS or FAIL, the old design's figure on a
# `P5 old design ...` line, and `P6 info:` / `P5 info:` context lines.
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
