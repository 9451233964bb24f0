# The two commands a newcomer needs are `make demo` and `make test`; everything else is a helper.
SHELL := /bin/bash
VENV ?= .venv
# A `python3.12` on PATH may be a pyenv shim that is not enabled for this directory, so each
# candidate is asked to run before it is trusted.
PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null) /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test processes; every worker starts its own simulator and Kubernetes stand-in (0: no workers).
TEST_WORKERS ?= 3

.PHONY: venv demo test lint crds simulator bench clean

$(STAMP): pyproject.toml standins/pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.12 not found: install it or pass PYTHON=/path/to/python3.12" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet -e './standins'
	touch $(STAMP)

venv: $(STAMP)

# The seeds' story on this machine: simulator, a cluster (the stand-in unless KUBECONFIG reaches one),
# the operator, examples/, Ready, and one chat completion with the key from its Secret.
demo: $(STAMP)
	$(BIN)/azureml-standins demo

test: $(STAMP)
	$(BIN)/ruff check operator standins tests examples
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check operator standins tests examples
	$(BIN)/ruff format --check operator standins tests examples
	$(BIN)/lint-imports
	$(BIN)/mypy

# Regenerate crds/ and the Helm chart's copies from the pydantic models (a test fails when either
# is stale or they differ).
CHART_CRDS := charts/azureml-operator/files/crds
crds: $(STAMP)
	rm -f crds/*.yaml $(CHART_CRDS)/*.yaml
	$(BIN)/azureml-operator crds --output-dir crds
	$(BIN)/azureml-operator crds --output-dir $(CHART_CRDS)

# Throughput, steady state, latency and memory against the simulator, beside the sequential SDK
# script: benchmarks/results.json, README.md and the plot (`BENCH_ARGS=--quick`: a couple of minutes).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# A local Azure ML control plane on https://127.0.0.1:8443; its CA lands in .sim/ca.pem.
simulator: $(STAMP)
	$(BIN)/azureml-standins simulator --port 8443 --cert-dir .sim --state-file .sim/state.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache .mypy_cache build *.egg-info operator/*.egg-info standins/*.egg-info standins/build
