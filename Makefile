# The project's two commands: `make run` and `make test`. Everything they need
# (Python tools in project virtual environments) is installed on first use.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
CARGO ?= cargo
export SAM_CLI_TELEMETRY := 0
export MOTO_SERVER := $(CURDIR)/$(VENV)/moto/bin/moto_server

.PHONY: chaos run test fmt-check clippy machete unit infra-check api-fuzz venvs package clean-venv chromium bench

## make run: the whole pipeline on this machine (no AWS account, no Docker).
run:
	$(CARGO) run -p orders-local -- $(ARGS)

## make chaos: the seeded fault run of the whole pipeline (embedded), counted by an
## independent ledger; reproduce any run with ARGS="--seed N --orders N --faults N".
chaos:
	RUST_LOG=$${RUST_LOG:-off} $(CARGO) run -q -p orders-local -- chaos $(ARGS)

## make test: formatting, lints, every test (unit, contract, moto, local e2e), the template checks and the API fuzzing.
test: venvs fmt-check clippy machete unit infra-check api-fuzz

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## make machete: unused dependencies of every workspace crate (cargo-machete,
## pinned, installed into the project's .tools/ on first use). A false positive
## goes in the crate's [package.metadata.cargo-machete] ignored = [...], with why.
MACHETE_VERSION := 0.9.2
TOOLS := .tools

machete: $(TOOLS)/.cargo-machete-$(MACHETE_VERSION)
	$(TOOLS)/bin/cargo-machete

# The stamp names the version, so changing the pin installs the new one.
$(TOOLS)/.cargo-machete-%:
	$(CARGO) install --locked --quiet --root $(TOOLS) --version $* cargo-machete
	touch $@

unit: $(VENV)/moto/.installed chromium
	$(CARGO) test --workspace

## Headless Chromium for the dashboard's browser test
## (tests/tests/dashboard_browser.rs), Debian's package, installed when missing.
## The version is the one Debian ships for this release (security updates
## replace it in place; an exact pin would stop installing when they do).
chromium:
	@command -v chromium >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@chromium --version

# One virtual environment per tool set: their pinned dependencies conflict.
$(VENV)/%/.installed: infra/requirements/%.txt
	rm -rf $(VENV)/$*
	$(PYTHON) -m venv $(VENV)/$*
	$(VENV)/$*/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

venvs: $(VENV)/moto/.installed $(VENV)/sam/.installed $(VENV)/checkov/.installed $(VENV)/schemathesis/.installed

infra-check: $(VENV)/sam/.installed $(VENV)/checkov/.installed $(VENV)/moto/.installed
	infra/check.sh

## make api-fuzz: schemathesis against orders-local's /openapi.json (infra/openapi.yaml).
api-fuzz: $(VENV)/schemathesis/.installed
	CARGO=$(CARGO) tests/api_fuzz.sh

## make bench: every performance budget measured on this machine (release
## binaries under an emulated Lambda Runtime API, criterion, the old system's
## Python beside them), one line per budget, written to bench/RESULTS.md.
## Timing lives here only: nothing in `make test` depends on it.
bench: $(VENV)/bench/.installed $(VENV)/moto/.installed
	CARGO=$(CARGO) bench/run.sh

package: $(VENV)/moto/.installed
	infra/package.sh

clean-venv:
	rm -rf $(VENV)
