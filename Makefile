# One command to set up and run the demo, one to set up and run the tests.
# Needs only Python >= 3.11 on the machine; everything else installs into .venv (offline at run time).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

.PHONY: demo test test-fast lint install clean bench messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

# The demo pipeline, then the web app at http://127.0.0.1:8000 (next free port) until Ctrl-C.
demo: $(STAMP)
	$(BIN)/presswatch demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -q

# The fast lane while working: every test not marked slow (no crawl child processes, no CLI runs in
# a subprocess, no browser, no model training); the whole suite stays `make test` (what CI runs).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# Extract marked strings into presswatch/locale/messages.pot and merge them into each language's .po.
messages: $(STAMP)
	$(BIN)/python -m presswatch.i18n_catalog

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
