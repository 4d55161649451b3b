# One command to set up and run the demo, one to set up and run the tests.
# Needs only Python >= 3.11 on the machine; everything else installs into .venv (offline at run time).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

.PHONY: demo test lint install clean bench messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
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

# Extract marked strings into presswatch/locale/messages.pot and merge them into each language's .po.
messages: $(STAMP)
	$(BIN)/python -m presswatch.i18n_catalog

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
