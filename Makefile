# Entraide: `make demo` runs it all on the embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1:8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
HOUSEHOLDS ?= 5000

.PHONY: demo test test-sqlite test-postgres lint install install-dev chromium serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/entraide migrate --no-input -v 0
	$(BIN)/entraide seed --households $(HOUSEHOLDS) --seed 42
	$(BIN)/entraide screening synth --import > /dev/null
	$(BIN)/entraide screening run --train --threshold 5 --leads-per-team 25
	$(BIN)/entraide territory demo
	$(BIN)/entraide demo_stack --host $(HOST)

# Browser tests drive Debian's Chromium; install it when the machine lacks it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install-dev chromium lint test-sqlite test-postgres

test-sqlite:
	$(BIN)/pytest -q

# Runs the suite again on PostgreSQL when it answers (CI machines have it on 127.0.0.1:5432).
test-postgres:
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "PostgreSQL answers: running the suite on it"; \
	  DATABASE_URL=$(PG_URL) $(BIN)/pytest -q; \
	else echo "PostgreSQL does not answer at $(PG_URL): suite ran on SQLite only"; fi

lint: install-dev
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) var/*.sqlite3* var/static
