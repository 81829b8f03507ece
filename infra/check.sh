#!/usr/bin/env bash
# Offline checks of infra/template.yaml: cfn-lint, `sam validate --lint` and
# checkov. Run from the repository root (`make infra-check` does). Needs no AWS
# account and no network: the credentials below are dummies that only satisfy
# SAM CLI's client set-up.
set -euo pipefail

cd "$(dirname "$0")/.."

TEMPLATE=infra/template.yaml
SAM_BIN=.venv/sam/bin
CHECKOV=.venv/checkov/bin/checkov

export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
# Never pick up a real profile or config from the developer's home.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE

for tool in "$SAM_BIN/cfn-lint" "$SAM_BIN/sam" "$CHECKOV"; do
    [[ -x $tool ]] || { echo "missing $tool: run \`make venvs\`" >&2; exit 1; }
done

failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run NAME CMD...: one line per check; the tool's output only when it fails.
# $summary, when set, names the tool's summary line to quote on success.
run() {
    local name=$1
    shift
    if "$@" >"$log" 2>&1; then
        echo "ok   $name${summary:+ ($(grep -m1 "$summary" "$log"))}"
    else
        echo "FAIL $name"
        sed 's/^/     /' "$log"
        failed=1
    fi
}

# cfn-lint: no errors and no warnings (informational findings also fail).
run "cfn-lint $TEMPLATE" "$SAM_BIN/cfn-lint" "$TEMPLATE"
run "sam validate --lint $TEMPLATE" "$SAM_BIN/sam" validate --lint --region us-east-1 -t "$TEMPLATE"
# checkov exits non-zero on any failed check; skips are justified in the
# resources' Metadata.checkov.skip.
# --skip-download: no network, and no Prisma Cloud guideline lookup to fail on.
summary="Passed checks" run "checkov $TEMPLATE" "$CHECKOV" -f "$TEMPLATE" --framework cloudformation --quiet --compact --skip-download

exit "$failed"
