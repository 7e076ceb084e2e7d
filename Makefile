# The two set-up commands of the README. Each installs what it needs into
# .venv from pyproject.toml first (once, and again when pyproject.toml changes).
#
#   make up     run ringi on the embedded default (Temporal dev server on SQLite,
#               the SQLite event store and the worker, in one data directory)
#   make test   run the whole test suite, on the SQLite event store and on PostgreSQL
#               (it starts its own Temporal servers; PostgreSQL is expected on
#               127.0.0.1:5432, as on every dev and CI machine; the browser tests drive
#               Debian's chromium, installed with apt-get if missing)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian's chromium for tests/e2e (Playwright drives it by path: no browser is
# ever downloaded), with a Japanese font so that screenshots are readable.
# apt-get needs root: sudo is used when there is one to use.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get
BROWSER_PACKAGES := chromium fonts-ipafont-gothic

.PHONY: up test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(CHROMIUM):
	$(APT) install -y --no-install-recommends $(BROWSER_PACKAGES) \
		|| { $(APT) update && $(APT) install -y --no-install-recommends $(BROWSER_PACKAGES); }

up: $(VENV)/.installed
	$(BIN)/ringi up

# The whole suite on the SQLite event store, then again on PostgreSQL: the
# second pass runs the tests whose store the switch chooses (tests/conftest.py).
test: $(VENV)/.installed $(CHROMIUM)
	$(BIN)/python -m pytest
	RINGI_TEST_STORE=postgres $(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff format --check ringi tests
	$(BIN)/ruff check ringi tests
	$(BIN)/mypy
