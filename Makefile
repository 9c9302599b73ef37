# Two commands do all the set-up on a fresh machine (Python 3.11 and make):
#   make up    - create .venv, install, start the whole system on loopback
#   make test  - create .venv, install, run format check, lint, types, import rules, tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: up test lint format install clean

$(STAMP): pyproject.toml
	@missing="$$(command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || echo haproxy) $$(command -v kubectl >/dev/null || echo kubernetes-client)"; [ -z "$$(echo $$missing)" ] || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/aischool up

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy contracts services infra tests bench
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
