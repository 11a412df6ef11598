# Quick start: `make run` (edge node + worker on the examples, and the demo page), `make test`
# (everything). Both create .venv and install on first use (Python, and npm for the page).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The demo page's Socket.IO client: the official npm package's build, copied, never edited.
PAGE_DIR  := services/edge
CLIENT_JS := $(PAGE_DIR)/eventwire_edge/static/vendor/socket.io.min.js
# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
CHROMIUM  := /usr/bin/chromium
# tests/deploy runs Debian's HAProxy in front of real edges, and checks the Prometheus files
# with promtool: the binary alone, taken from Debian's `prometheus` package (no server is
# installed or started).
HAPROXY   := /usr/sbin/haproxy
PROMTOOL  := $(VENV)/bin/promtool

.PHONY: run test lint typecheck unit integration e2e deploy-test bench bench-quick soak clean

$(STAMP): pyproject.toml $(CLIENT_JS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,speed,plugins,bench]'
	touch $(STAMP)

$(CLIENT_JS): $(PAGE_DIR)/package.json $(PAGE_DIR)/package-lock.json
	cd $(PAGE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(@D)
	cp $(PAGE_DIR)/node_modules/socket.io-client/dist/socket.io.min.js $@

run: $(STAMP)
	$(BIN)/eventwire run

test: $(STAMP) $(CHROMIUM) $(HAPROXY) $(PROMTOOL) lint typecheck
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

e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest tests/e2e

deploy-test: $(STAMP) $(HAPROXY) $(PROMTOOL)
	$(BIN)/pytest tests/deploy

$(CHROMIUM):
	@echo "the browser tests need Debian's chromium; installing it (apt, as root)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(HAPROXY):
	@echo "the deploy tests need Debian's haproxy; installing it (apt, as root)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy

$(PROMTOOL): | $(STAMP)
	@echo "the deploy tests need promtool; extracting it from Debian's prometheus package"
	rm -rf $(VENV)/promtool.tmp && mkdir -p $(VENV)/promtool.tmp
	cd $(VENV)/promtool.tmp && (apt-get download -qq prometheus 2>/dev/null \
		|| (apt-get update -qq && apt-get download -qq prometheus))
	dpkg-deb --fsys-tarfile $(VENV)/promtool.tmp/prometheus_*.deb | tar -xO ./usr/bin/promtool > $@.part
	chmod +x $@.part && mv $@.part $@ && rm -rf $(VENV)/promtool.tmp

# Benchmarks against python-socketio and the bare floors (README "Performance"); results in
# tests/bench/results/. BENCH_ARGS passes flags, e.g. make bench BENCH_ARGS="--ks 1,2".
bench: $(STAMP)
	$(BIN)/eventwire bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/eventwire bench --quick --name quick $(BENCH_ARGS)

soak: $(STAMP)
	$(BIN)/eventwire bench --only soak --name soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(PAGE_DIR)/node_modules $(CLIENT_JS)
