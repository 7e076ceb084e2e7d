# The two set-up commands of the README. Each installs what it needs into
# .venv from pyproject.toml first (once, and again when pyproject.toml changes).
#
#   make up     run ringi on the embedded default (Temporal dev server on SQLite,
#               the SQLite event store and the worker, in one data directory)
#   make test   run the whole test suite (it starts its own Temporal servers;
#               PostgreSQL is expected on 127.0.0.1:5432, as on every dev and CI machine)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

up: $(VENV)/.installed
	$(BIN)/ringi up

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff format --check ringi tests
	$(BIN)/ruff check ringi tests
	$(BIN)/mypy
