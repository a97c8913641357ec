# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EVENTS ?= 10000000
BENCH_ARGS ?=

.PHONY: demo test lint bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/meter demo

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install-dev lint
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python benchmarks/run.py --events $(EVENTS) $(BENCH_ARGS)
	$(BIN)/python -m pytest benchmarks -q --benchmark-enable --benchmark-only

clean:
	rm -rf $(VENV) meterline.duckdb meterline.duckdb.lock meterline-events invoices build *.egg-info
