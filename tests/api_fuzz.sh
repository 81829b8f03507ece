#!/usr/bin/env bash
# Fuzzes the orders HTTP API with schemathesis (`make api-fuzz`, part of
# `make test`).
#
# Builds orders-local, starts it on 127.0.0.1 (a free port, embedded backends,
# a temporary outbox) and runs schemathesis against the document it serves at
# /openapi.json (infra/openapi.yaml resolved for local use): the examples, the
# coverage phase (boundary and invalid values of every constraint) and
# property-based fuzzing, positive and negative, with a fixed seed. Checks: no
# 5xx, and every response conforms to the document (status code, content type,
# headers, body schema). No timing checks. The server is stopped whatever
# happens. Needs no network: schemathesis 4 sends no telemetry and uploads
# nothing; its example database is off.
#
# Two runs: the open API (no authorizer: every order has the one owner
# `anonymous`), then the API behind the runner's JWT authorizer (`--auth
# jwt`) with a token of one user, so both routes are fuzzed with an owner too;
# that run also checks that a request without a token is refused (401).
#
# Environment: API_FUZZ_SEED (default 20251125), API_FUZZ_EXAMPLES (fuzzing
# cases, default 1000), API_FUZZ_MIN_REQUESTS (the run fails below this many
# generated requests, default 1000), API_FUZZ_OWNER_EXAMPLES (fuzzing cases of
# the run with an owner, default 200), CARGO, CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

SCHEMATHESIS=$root/.venv/schemathesis/bin/schemathesis
PYTHON=$root/.venv/schemathesis/bin/python
CARGO=${CARGO:-cargo}
SEED=${API_FUZZ_SEED:-20251125}
EXAMPLES=${API_FUZZ_EXAMPLES:-1000}
MIN_REQUESTS=${API_FUZZ_MIN_REQUESTS:-1000}
OWNER_EXAMPLES=${API_FUZZ_OWNER_EXAMPLES:-200}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance

[[ -x $SCHEMATHESIS ]] || { echo "missing $SCHEMATHESIS: run \`make venvs\`" >&2; exit 1; }

"$CARGO" build --quiet -p orders-local
server_bin=${CARGO_TARGET_DIR:-$root/target}/debug/orders-local

work=$(mktemp -d)
server_pid=
fuzz_pid=
stop_server() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=
}
cleanup() {
    if [[ -n $fuzz_pid ]] && kill -0 "$fuzz_pid" 2>/dev/null; then
        kill -TERM "$fuzz_pid" 2>/dev/null || true
        wait "$fuzz_pid" 2>/dev/null || true
    fi
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts orders-local with the given extra arguments and sets `url`.
# Embedded backends even when the caller's environment names an endpoint.
start_server() {
    env -u AWS_ENDPOINT_URL "$server_bin" \
        --host 127.0.0.1 --port 0 \
        --outbox "$work/outbox" \
        --name-prefix api-fuzz- \
        --drain-timeout 5 \
        "$@" \
        >"$work/server.out" 2>"$work/server.log" &
    server_pid=$!

    url=
    for _ in $(seq 1 300); do
        line=$(head -n 1 "$work/server.out" 2>/dev/null || true)
        if [[ $line == "orders-local listening on "* ]]; then
            url=${line#orders-local listening on }
            break
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [[ -z $url ]]; then
        echo "orders-local did not start; its log:" >&2
        tail -n 50 "$work/server.log" >&2
        exit 1
    fi
}

start_server
echo "api-fuzz: orders-local at $url, schema $url/openapi.json, seed $SEED"

# From the work directory, so nothing (report, caches) lands in the repository.
# In the background, so that a signal to this script stops it at once (the
# traps above then stop both processes).
status=0
(
    cd "$work"
    exec "$SCHEMATHESIS" run "$url/openapi.json" \
        --checks "$CHECKS" \
        --mode all \
        --phases examples,coverage,fuzzing \
        --max-examples "$EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --generation-database none \
        --continue-on-failure \
        --no-color \
        --report json --report-json-path "$work/report.json"
) &
fuzz_pid=$!
wait "$fuzz_pid" || status=$?
fuzz_pid=

stats=$("$PYTHON" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
    "$url/_local/status" 2>/dev/null || echo '{}')
stop_server

if [[ ! -s $work/report.json ]]; then
    echo "api-fuzz: FAILED: schemathesis exited $status without a report" >&2
    tail -n 50 "$work/server.log" >&2
    exit 1
fi

# One summary line, and a failure if fewer requests than promised were made.
"$PYTHON" - "$work/report.json" "$stats" "$MIN_REQUESTS" "$status" <<'PY' || status=1
import json
import sys

report = json.load(open(sys.argv[1]))
stats = json.loads(sys.argv[2] or "{}").get("stages", {})
minimum, exit_code = int(sys.argv[3]), int(sys.argv[4])
cases = report["test_cases"]
generated = cases["generated"]
handled = stats.get("accepted", 0) + stats.get("rejected", 0)
outcome = "passed" if exit_code == 0 else (
    f"FAILED ({cases['unique_failures']} distinct failures, {len(report['errors'])} errors)"
)
print(
    f"api-fuzz: {generated} requests generated (seed {report['seed']}); "
    f"orders-local answered {handled} POST /orders "
    f"({stats.get('accepted', 0)} accepted, {stats.get('rejected', 0)} rejected); {outcome}"
)
if generated < minimum:
    print(f"api-fuzz: FAILED: fewer than {minimum} requests generated", file=sys.stderr)
    sys.exit(1)
PY

if [[ $status -ne 0 ]]; then
    echo "api-fuzz: orders-local log (last 40 lines):" >&2
    tail -n 40 "$work/server.log" >&2
    exit "$status"
fi

# ---- the API with an owner: the runner's JWT authorizer, one user's token
start_server --auth jwt
echo "api-fuzz: orders-local --auth jwt at $url (requests as one user)"
token=$("$PYTHON" - "$url" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/_local/token?user=api-fuzz", method="POST")
print(urllib.request.urlopen(request, timeout=10).read().decode())
PY
)
# Without a token, the authorizer refuses both routes before any function.
"$PYTHON" - "$url" <<'PY' || status=1
import sys, urllib.error, urllib.request
for method, path in [("GET", "/orders/23214"), ("POST", "/orders")]:
    try:
        urllib.request.urlopen(urllib.request.Request(sys.argv[1] + path, method=method, data=b"{}" if method == "POST" else None), timeout=10)
        code = 200
    except urllib.error.HTTPError as err:
        code = err.code
    if code != 401:
        print(f"api-fuzz: FAILED: {method} {path} without a token answered {code}, not 401", file=sys.stderr)
        sys.exit(1)
print("api-fuzz: without a token both routes answer 401")
PY
(
    cd "$work"
    exec "$SCHEMATHESIS" run "$url/openapi.json" \
        --header "Authorization: Bearer $token" \
        --checks "$CHECKS" \
        --mode all \
        --phases examples,coverage,fuzzing \
        --max-examples "$OWNER_EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --generation-database none \
        --continue-on-failure \
        --no-color \
        --report json --report-json-path "$work/report-owner.json"
) &
fuzz_pid=$!
owner_status=0
wait "$fuzz_pid" || owner_status=$?
fuzz_pid=
stop_server
if [[ ! -s $work/report-owner.json ]]; then
    echo "api-fuzz: FAILED: schemathesis (with an owner) exited $owner_status without a report" >&2
    exit 1
fi
"$PYTHON" - "$work/report-owner.json" "$owner_status" <<'PY' || status=1
import json, sys
report = json.load(open(sys.argv[1]))
cases = report["test_cases"]
ok = int(sys.argv[2]) == 0
print(
    f"api-fuzz: with an owner: {cases['generated']} requests generated; "
    + ("passed" if ok else f"FAILED ({cases['unique_failures']} distinct failures)")
)
sys.exit(0 if ok and cases["generated"] > 0 else 1)
PY
if [[ $status -ne 0 ]]; then
    echo "api-fuzz: orders-local --auth jwt log (last 40 lines):" >&2
    tail -n 40 "$work/server.log" >&2
fi
exit "$status"
