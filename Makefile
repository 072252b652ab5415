# Two commands for a fresh machine: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test e2e lint venv chromium scale-deps scale clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

# Azurite (the Azure Storage emulator, pinned in package.json / package-lock.json) into ./node_modules.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: installing Debian's nodejs and npm"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund
	touch $@

venv: $(VENV)/.installed node_modules/.installed

# Debian's Chromium for the e2e browser test (Playwright drives /usr/bin/chromium; `playwright install` is never
# run). If it cannot be installed (no root, no apt), the browser test skips and says why.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then APT=""; elif sudo -n true 2>/dev/null; then APT="sudo -n"; else APT=none; fi; \
	  if [ "$$APT" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    $$APT apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$APT apt-get install -y -qq chromium >/dev/null \
	      || echo "chromium could not be installed: the e2e browser test will skip"; \
	  else echo "no /usr/bin/chromium and no root for apt-get: the e2e browser test will skip"; fi; }

# Debian's PostgreSQL and Redis servers for the scale deployment (tests/scale starts private instances of both on
# 127.0.0.1; nothing is started as a system service). Without root or apt, the scale test skips and says why.
scale-deps:
	@{ ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ]; then APT=""; elif sudo -n true 2>/dev/null; then APT="sudo -n"; else APT=none; fi; \
	  if [ "$$APT" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    $$APT apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$APT apt-get install -y -qq postgresql redis-server >/dev/null \
	      || echo "postgresql/redis-server could not be installed: the scale test will skip"; \
	  else echo "no PostgreSQL/Redis server and no root for apt-get: the scale test will skip"; fi; }

## Start the emulator with a few thousand devices, run the weekly maintenance DAG with `airflow dags test`
## on a SQLite metadata DB, print the outcome, stop everything.
demo: venv
	$(PY) scripts/demo.py

## Run the whole test suite (real DAG runs against the emulator on 127.0.0.1).
test: venv chromium scale-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

## Only the e2e stage: a real Airflow 3 (api-server, scheduler, DAG processor, triggerer) on 127.0.0.1 with
## the emulator, both example DAGs triggered through the REST API, and one through the UI in headless Chromium.
e2e: venv chromium
	$(PY) -m pytest -q -p no:cacheprovider -m e2e -s tests/e2e

## The distributed deployment under load: PostgreSQL + Redis, Airflow 3 with the CeleryExecutor (2 workers, 2
## triggerers), 100 fleet-command runs over three emulated backends at tier S1, one triggerer SIGKILLed; prints
## the measured table and writes tests/scale/artifacts/scale-deferrable.json (≈6-8 min on 2 cores).
scale: venv scale-deps
	$(PY) -m pytest -q -p no:cacheprovider -m scale -s tests/scale

## Measure the performance figures against the emulator (≈20-25 min on 2 cores, figure 8's two deployments
## included): one table, and benchmarks/results.json. BENCH_ARGS="--only 2,3" or "--quick" for a part or a smoke run. See BENCHMARKS.md.
bench: venv scale-deps
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .demo .pytest_cache node_modules
