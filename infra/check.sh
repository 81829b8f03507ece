#!/usr/bin/env bash
# Offline checks of infra/template.yaml and infra/consumer-template.yaml:
# cfn-lint, `sam validate --lint`, checkov, the SAM transform (infra/translate.py)
# and stack creation on moto's CloudFormation (infra/moto_stack.py). Run from
# the repository root (`make infra-check` does). Needs no AWS account and no
# network: the credentials below are dummies that only satisfy the clients'
# set-up.
set -euo pipefail

cd "$(dirname "$0")/.."

TEMPLATE=infra/template.yaml
CONSUMER=infra/consumer-template.yaml
SAM_BIN=.venv/sam/bin
CHECKOV=.venv/checkov/bin/checkov
MOTO_PYTHON=.venv/moto/bin/python

export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
# Never pick up a real profile or config from the developer's home.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE

for tool in "$SAM_BIN/cfn-lint" "$SAM_BIN/sam" "$SAM_BIN/python" "$CHECKOV" "$MOTO_PYTHON"; do
    [[ -x $tool ]] || { echo "missing $tool: run \`make venvs\`" >&2; exit 1; }
done

failed=0
log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$log" "$work"' EXIT

# The API's OpenAPI document lives in infra/openapi.yaml, which the template
# includes with `Fn::Transform: AWS::Include` (`sam deploy` uploads it). None
# of the tools reads a local include (cfn-lint would report the conditions used
# only inside it as unused, and checkov would not see the API definition), so
# they check the template as CloudFormation sees it: each local include inlined
# in place. CloudFormation rejects short-form tags (`!Ref`) in an included file,
# so those are refused here instead of silently working once inlined.
CHECKED=$work/template.yaml
"$SAM_BIN/python" - "$TEMPLATE" "$CHECKED" <<'PY'
import os
import re
import sys

source, target = sys.argv[1], sys.argv[2]
include = re.compile(
    r"(?m)^(?P<indent> *)(?P<key>[A-Za-z0-9]+):\n"
    r"(?P=indent)  Fn::Transform:\n"
    r"(?P=indent)    Name: AWS::Include\n"
    r"(?P=indent)    Parameters:\n"
    r"(?P=indent)      Location: (?P<location>[^\s:]+)\n"
)
short_form = re.compile(
    r"(^|[\s\[{,:-])!(Ref|GetAtt|Sub|If|Equals|Not|And|Or|Join|Select|Split|"
    r"FindInMap|Base64|Cidr|ImportValue|GetAZs|Condition|Transform)\b"
)


def inline(match):
    path = os.path.join(os.path.dirname(source), match["location"])
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        code = line.split(" #", 1)[0]
        if not line.lstrip().startswith("#") and short_form.search(code):
            sys.exit(f"{path}:{number}: short-form tag in an AWS::Include file; use the long form (Fn::If:)")
    indent = match["indent"] + "  "
    body = "".join((indent + line if line.strip() else "") + "\n" for line in lines)
    print(f"     {match['key']}: {path} inlined")
    return f"{match['indent']}{match['key']}:\n{body}"


with open(source, encoding="utf-8") as f:
    text = f.read()
with open(target, "w", encoding="utf-8") as f:
    f.write(include.sub(inline, text))
PY

# run NAME CMD...: one line per check; the tool's output only when it fails.
# $summary, when set, names the tool's summary line to quote on success;
# $show, when set, quotes the whole output on success too.
run() {
    local name=$1
    shift
    if "$@" >"$log" 2>&1; then
        echo "ok   $name${summary:+ ($(grep -m1 "$summary" "$log"))}"
        [[ -z ${show:-} ]] || sed 's/^/     /' "$log"
    else
        echo "FAIL $name"
        sed 's/^/     /' "$log"
        failed=1
    fi
}

# cfn-lint: no errors and no warnings (informational findings also fail).
run "cfn-lint $TEMPLATE" "$SAM_BIN/cfn-lint" "$CHECKED"
run "sam validate --lint $TEMPLATE" "$SAM_BIN/sam" validate --lint --region us-east-1 -t "$CHECKED"
# checkov exits non-zero on any failed check; skips are justified in the
# resources' Metadata.checkov.skip.
# --skip-download: no network, and no Prisma Cloud guideline lookup to fail on.
summary="Passed checks" run "checkov $TEMPLATE" "$CHECKOV" -f "$CHECKED" --framework cloudformation --quiet --compact --skip-download

# The consuming teams' template (plain CloudFormation, no includes): same rules.
run "cfn-lint $CONSUMER" "$SAM_BIN/cfn-lint" "$CONSUMER"
summary="Passed checks" run "checkov $CONSUMER" "$CHECKOV" -f "$CONSUMER" --framework cloudformation --quiet --compact --skip-download

# What CloudFormation does at change-set creation, which none of the above
# does: the SAM transform (aws-sam-translator, pinned in
# infra/requirements/sam.txt) on each template with its includes resolved, then
# the resulting stacks created on moto's CloudFormation (in process). A
# template that cannot deploy fails here.
summary="resources" run "SAM transform $TEMPLATE" "$SAM_BIN/python" infra/translate.py "$CHECKED" "$work/template.json"
summary="resources" run "SAM transform $CONSUMER" "$SAM_BIN/python" infra/translate.py "$CONSUMER" "$work/consumer.json"
if [[ -f $work/template.json && -f $work/consumer.json ]]; then
    show=1 run "moto CloudFormation stacks of $TEMPLATE and $CONSUMER" \
        "$MOTO_PYTHON" infra/moto_stack.py "$work/template.json" "$work/consumer.json"
else
    echo "FAIL moto CloudFormation stacks: not run, a template did not translate"
    failed=1
fi

exit "$failed"
