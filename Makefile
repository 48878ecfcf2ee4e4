# Quick start: `make up` runs the default app, `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint typecheck unit conformance clean bytecode

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

tests/conformance/node_modules/.installed: tests/conformance/package.json tests/conformance/package-lock.json
	cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Byte-compile our packages (only what changed): Python then loads them instead of
# compiling every module at every start, even where PYTHONDONTWRITEBYTECODE is set.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q netscript tests

up: bytecode
	$(BIN)/netscript up

lint: $(STAMP)
	$(BIN)/ruff check netscript host orchestrator plugins apps scripts tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) bytecode tests/conformance/node_modules/.installed lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) tests/conformance/node_modules .mypy_cache .pytest_cache .ruff_cache
