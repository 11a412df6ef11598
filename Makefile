# Quick start: `make run` (edge node + worker on the examples), `make test` (everything).
# Both create .venv and install on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration e2e bench bench-quick soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,speed,plugins,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/eventwire run

test: $(STAMP) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check libs services tests
	$(BIN)/ruff format --check libs services tests

typecheck: $(STAMP)
	$(BIN)/mypy -p eventwire -p eventwire_edge -p eventwire_worker

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

# Benchmarks against python-socketio and the bare floors (README "Performance"); results in
# tests/bench/results/. BENCH_ARGS passes flags, e.g. make bench BENCH_ARGS="--ks 1,2".
bench: $(STAMP)
	$(BIN)/eventwire bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/eventwire bench --quick --name quick $(BENCH_ARGS)

soak: $(STAMP)
	$(BIN)/eventwire bench --only soak --name soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
