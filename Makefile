# Quick start: `make run` (edge node + demo sender), `make test` (everything).
# Both create .venv and install on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration e2e bench bench-quick soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,speed]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/eventwire run

test: $(STAMP) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check libs services tests
	$(BIN)/ruff format --check libs services tests

typecheck: $(STAMP)
	$(BIN)/mypy -p eventwire -p eventwire_edge

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

# Benchmarks against python-socketio and the bare floors (README "Performance"); results in
# tests/bench/results/. BENCH_ARGS passes flags, e.g. make bench BENCH_ARGS="--ks 1,2".
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,speed,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/eventwire bench $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP)
	$(BIN)/eventwire bench --quick --name quick $(BENCH_ARGS)

soak: $(BENCH_STAMP)
	$(BIN)/eventwire bench --only soak --name soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
