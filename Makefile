# The whole set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` needs the runtime dependencies only (RUN_STAMP); the tests, lint
# and benchmarks need the dev extras too (STAMP, which implies the runtime ones).
RUN_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/newsletter db upgrade
	$(BIN)/newsletter demo
	$(BIN)/newsletter serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite twice: everything on SQLite, then the database tests (marker `db`, set on every
# test that builds a project config) on PostgreSQL, each test on a fresh database.
test: lint test-sqlite test-postgres

test-sqlite: $(STAMP)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# Runs when TEST_POSTGRES_URL names a server; in CI (CI=true) it always runs, so a missing
# server fails the build instead of skipping.
test-postgres: $(STAMP)
	@if [ -n "$$TEST_POSTGRES_URL" ] || [ "$$CI" = true ]; then \
		echo "$(BIN)/pytest -n 2 --db=postgres -m 'db and not postgres' $(PYTEST_ARGS)"; \
		$(BIN)/pytest -n 2 --db=postgres -m 'db and not postgres' $(PYTEST_ARGS); \
	else \
		echo "test-postgres: TEST_POSTGRES_URL is not set, PostgreSQL pass not run"; \
	fi

bench: $(STAMP)
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
