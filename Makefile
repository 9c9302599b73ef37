# Two commands do all the set-up on a fresh machine (Python 3.11 and make):
#   make up    - create .venv, install, start the whole system on loopback
#   make test  - create .venv, install, run format check, lint, types, import rules, tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: up test test-fast lint format install system-packages clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) system-packages

# Debian packages the tests use: Chromium for the Coding page's browser tests (Playwright never
# downloads one), poppler-utils and zbar-tools to read key sheets back, HAProxy for
# `aischool cluster up`, kubectl to render infra/k8s, wrk to load the gateway in `make bench`.
# Installed when missing (as root).
SYSTEM_PACKAGES := chromium:chromium pdftoppm:poppler-utils zbarimg:zbar-tools \
	haproxy:haproxy kubectl:kubernetes-client wrk:wrk

system-packages:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
	  command -v $${entry%%:*} >/dev/null 2>&1 || missing="$$missing $${entry##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

up: $(STAMP)
	$(BIN)/aischool up

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy contracts services infra tests bench
	$(BIN)/lint-imports

test: lint system-packages
	$(BIN)/pytest

# The tests that need no server (domain, contracts, parsing): seconds, for the edit loop.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not servers"

# The gateway against the floor of its own HTTP stack, same run (docs/benchmarks.md); BENCH_ARGS
# passes options, e.g. make bench BENCH_ARGS="--seconds 10".
bench: install
	$(BIN)/python -m bench.gateway_floor $(BENCH_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
