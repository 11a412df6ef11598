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

.PHONY: run test lint typecheck unit integration e2e deploy-test bench bench-quick soak clean openwebui-venv

$(STAMP): pyproject.toml $(CLIENT_JS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev,bench]'
	touch $(STAMP)

# --- Open WebUI (issues 11-13) -------------------------------------------------------------
# A real Open WebUI in its own virtualenv: its pins (python-socketio, redis, aiohttp, pydantic...)
# are not bent to eventwire's. torch comes in the SAME pip command, pinned to the local CPU
# build: left to itself pip picks a CUDA torch (several GB). The eventwire SDK goes in with
# --no-deps, then only the SDK deps Open WebUI lacks (and prometheus-client, for a worker's
# /metrics), constrained to what is already installed so none of Open WebUI's pins moves;
# `pip check` proves it.
OWUI_VERSION  ?= 0.12.4
OWUI_TORCH    ?= 2.13.0
OWUI_VENV     ?= .venv-openwebui
OWUI_STAMP    := $(OWUI_VENV)/.installed
OWUI_SDK_DEPS := aio-pika msgpack PyJWT pydantic-settings prometheus-client

openwebui-venv: $(OWUI_STAMP)

$(OWUI_STAMP): pyproject.toml
	test -x $(OWUI_VENV)/bin/open-webui || { \
	  $(PYTHON) -m venv $(OWUI_VENV) && \
	  $(OWUI_VENV)/bin/pip install --quiet open-webui==$(OWUI_VERSION) torch==$(OWUI_TORCH); }
	$(OWUI_VENV)/bin/pip freeze --exclude-editable > $(OWUI_VENV)/pins.txt
	$(OWUI_VENV)/bin/pip install --quiet -c $(OWUI_VENV)/pins.txt $(OWUI_SDK_DEPS)
	$(OWUI_VENV)/bin/pip install --quiet --no-deps -e .
	$(OWUI_VENV)/bin/pip check
	touch $@
# ---------------------------------------------------------------------------------------------

$(CLIENT_JS): $(PAGE_DIR)/package.json $(PAGE_DIR)/package-lock.json
	cd $(PAGE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(@D)
	cp $(PAGE_DIR)/node_modules/socket.io-client/dist/socket.io.min.js $@

run: $(STAMP)
	$(BIN)/eventwire run

test: $(STAMP) $(OWUI_STAMP) $(CHROMIUM) $(HAPROXY) $(PROMTOOL) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check libs services tests
	$(BIN)/ruff format --check libs services tests

typecheck: $(STAMP)
	$(BIN)/mypy -p eventwire -p eventwire_edge -p eventwire_worker -p eventwire_cli
	$(BIN)/mypy services/worker/openwebui/eventwire_workers.py

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) $(OWUI_STAMP) $(CHROMIUM)
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
bench: $(STAMP) $(OWUI_STAMP)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

bench-quick: $(STAMP) $(OWUI_STAMP)
	$(BIN)/python -m tests.bench --quick --name quick $(BENCH_ARGS)

soak: $(STAMP)
	$(BIN)/python -m tests.bench --only soak --name soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OWUI_VENV) .pytest_cache .mypy_cache .ruff_cache $(PAGE_DIR)/node_modules $(CLIENT_JS)
