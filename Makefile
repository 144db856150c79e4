# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-paper clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/physseg bench

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest --cov=physseg --cov-report=term --cov-fail-under=95
	$(BIN)/python -m pytest benchmarks --benchmark-disable -q

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only

# The paper's sizes: 100 runs of up to 10^8 lookups and 10^6 segments (many hours).
bench-paper: $(STAMP)
	$(BIN)/physseg bench --paper

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .coverage
