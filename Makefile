# Two commands for a fresh machine: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test lint venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

## Start the emulator with a few thousand devices, run the weekly maintenance DAG with `airflow dags test`
## on a SQLite metadata DB, print the outcome, stop everything.
demo: venv
	$(PY) scripts/demo.py

## Run the whole test suite (real DAG runs against the emulator on 127.0.0.1).
test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .demo .pytest_cache
