#!/usr/bin/env bash
# P4, the local pipeline keeps up with intake: loads `orders-local` (embedded
# backends, default logging, as `make run` starts it) and, in the same run, a
# bare axum server answering 202, with wrk posting distinct orders from 50
# customers (bench/p4_orders.lua), and prints one line per budget:
#
#   P4 e2e/accepted: the sustained end-to-end rate (orders notified per second,
#      read from /_local/status over the load's steady window) over the rate
#      intake accepted in that same window; budget >= 90 %.
#   P4 e2e/bare: that end-to-end rate over the bare server's request rate;
#      budget >= 50 %.
#   P4 p99 POST at half rate: p99 latency of POST /orders on a fresh pipeline
#      paced at half the end-to-end rate; budget <= 5 ms.
#
# plus `P4 info:` lines. Run from the repository root. Installs its load
# generator (Debian's wrk, pinned) when missing. Knobs (environment):
# P4_SECONDS (load length, default 12), P4_WARMUP (seconds before the steady
# window opens, default 3), P4_CONNECTIONS (32), P4_THREADS (2), P4_BIN (an
# orders-local binary to measure instead of building this tree's),
# P4_OUTBOX (the e-mail folder, removed afterwards; default under .local/),
# P4_HALF_RATE (pace the latency run at this many requests per second instead
# of half the end-to-end rate, to compare two builds at the same load).
set -euo pipefail

WRK_VERSION=4.1.0-3+b2
SECONDS_LOAD=${P4_SECONDS:-12}
WARMUP=${P4_WARMUP:-3}
CONNECTIONS=${P4_CONNECTIONS:-32}
THREADS=${P4_THREADS:-2}
CARGO=${CARGO:-cargo}
BIN=${P4_BIN:-target/release/orders-local}
SCRIPT=bench/p4_orders.lua

# --- the load generator ------------------------------------------------------
installed_wrk() { dpkg-query -W -f='${Version}' wrk 2>/dev/null || true; }
if [[ "$(installed_wrk)" != "$WRK_VERSION" ]]; then
    echo "P4 info: installing wrk $WRK_VERSION" >&2
    as_root=()
    [[ $(id -u) -eq 0 ]] || as_root=(sudo)
    "${as_root[@]}" apt-get update -qq >&2
    "${as_root[@]}" apt-get install -y -qq "wrk=$WRK_VERSION" >&2
fi

[[ -n "${P4_BIN:-}" ]] || "$CARGO" build --release --quiet -p orders-local >&2

WORK=$(mktemp -d)
# The e-mail outbox lives where `make run` keeps it (.local/), not in the
# temporary folder: creating files costs what the folder's file system makes
# it cost, and the pipeline writes one per order.
OUTBOX=${P4_OUTBOX:-.local/bench-p4-$$}
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK" "$OUTBOX"
}
trap cleanup EXIT

# Starts a server in the background; sets URL from its first stdout line.
start() {
    local name=$1
    shift
    local out=$WORK/$name.out
    "$@" >"$out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    URL=""
    for _ in $(seq 200); do
        URL=$(sed -n '1s/.* listening on //p' "$out" 2>/dev/null || true)
        [[ -n "$URL" ]] && return 0
        sleep 0.05
    done
    echo "P4 info: $name did not start: $(cat "$WORK/$name.err")" >&2
    exit 1
}
stop_last() {
    local pid=${PIDS[-1]}
    # Nothing is left to measure: no need to wait for a drain.
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'PIDS[-1]'
}

# wrk against $URL; extra environment in "$@" (P4_PREFIX, P4_RATE). Prints
# the script's P4WRK line.
load() {
    env "$@" P4_THREADS="$THREADS" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_LOAD}s" -s "$SCRIPT" "$URL" |
        grep '^P4WRK '
}
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; }
stage() { curl -sf "$URL/_local/status" | jq -r ".stages.$1"; }

pipeline() {
    start "$1" env -u RUST_LOG -u AWS_LAMBDA_LOG_LEVEL "$BIN" --port 0 \
        --outbox "$OUTBOX/$1" --name-prefix "bench-$1-" --drain-timeout 0
}

# Other work on the machine shares its cores with the servers and wrk.
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the yardstick ----------------------------------------------------------
start bare "$BIN" --port 0 bare-202
bare=$(load P4_PREFIX=bare)
stop_last
bare_rate=$(calc "$(field requests "$bare") / $(field seconds "$bare")")

# --- saturation: what intake accepts and what gets notified -----------------
pipeline sat
load P4_PREFIX=sat >"$WORK/sat.wrk" &
wrk_pid=$!
sleep "$WARMUP"
t0=$(now) a0=$(stage accepted) n0=$(stage notified)
sleep $((SECONDS_LOAD - WARMUP - 1))
t1=$(now) a1=$(stage accepted) n1=$(stage notified)
wait "$wrk_pid"
sat=$(cat "$WORK/sat.wrk")
window=$(calc "$t1 - $t0" 3)
accepted_rate=$(calc "($a1 - $a0) / $window")
e2e_rate=$(calc "($n1 - $n0) / $window")
# How far behind the backend is when the load stops, and 5 s later.
backlog_end=$(($(stage accepted) - $(stage notified)))
sleep 5
backlog_later=$(($(stage accepted) - $(stage notified)))
stop_last

# --- latency at half the end-to-end rate, on a fresh pipeline ---------------
half_target=${P4_HALF_RATE:-$(calc "$e2e_rate / 2")}
((half_target >= 1)) || half_target=1
pipeline half
half=$(load P4_PREFIX=half P4_RATE="$half_target")
stop_last
half_rate=$(calc "$(field requests "$half") / $(field seconds "$half")")
p99_ms=$(calc "$(field p99_us "$half") / 1000" 1)

# --- report -----------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
echo "P4 info: load average when the run started: $loadavg (on $(nproc) cores)"
echo "P4 info: bare axum 202: $bare_rate req/s ($(field non2xx "$bare") non-2xx, $(field errors "$bare") socket errors)"
echo "P4 info: intake accepted: $accepted_rate req/s over a ${window} s steady window (wrk: $(field requests "$sat") requests, $(field non2xx "$sat") non-2xx, $(field errors "$sat") socket errors)"
echo "P4 info: notified end to end: $e2e_rate orders/s in that window; not yet notified when the load stopped: $backlog_end, 5 s later: $backlog_later"
echo "P4 info: half rate: target $half_target req/s, achieved $half_rate req/s, p50 $(calc "$(field p50_us "$half") / 1000" 1) ms ($(field non2xx "$half") non-2xx)"
e2e_acc=$(calc "100 * $e2e_rate / ($accepted_rate > 0 ? $accepted_rate : 1)")
e2e_bare=$(calc "100 * $e2e_rate / ($bare_rate > 0 ? $bare_rate : 1)")
echo "P4 e2e/accepted: $e2e_acc % (budget >= 90 %) $(verdict "$e2e_acc >= 90")"
echo "P4 e2e/bare: $e2e_bare % (budget >= 50 %) $(verdict "$e2e_bare >= 50")"
echo "P4 p99 POST at half rate: $p99_ms ms (budget <= 5 ms) $(verdict "$p99_ms <= 5 && $(field non2xx "$half") == 0")"
