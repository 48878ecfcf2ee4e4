# Quick start: `make up` runs the default app, `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint typecheck unit conformance clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

tests/conformance/node_modules/.installed: tests/conformance/package.json tests/conformance/package-lock.json
	cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

up: $(STAMP)
	$(BIN)/netscript up

lint: $(STAMP)
	$(BIN)/ruff check netscript host orchestrator plugins tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) tests/conformance/node_modules/.installed lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) tests/conformance/node_modules .mypy_cache .pytest_cache .ruff_cache
