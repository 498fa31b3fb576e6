# Quorum — every entry point a fresh machine needs. Only python3.11, make and a C compiler
# are assumed; uv is installed into .venv from PyPI and then installs from uv.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: venv install install-dev demo test lint bench clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

venv: $(UV)

install: $(UV)
	$(UV) sync --frozen --no-dev --python $(BIN)/python

install-dev: $(UV)
	$(UV) sync --frozen --extra dev --python $(BIN)/python

lock: $(UV)
	$(UV) lock

demo: install
	$(BIN)/quorum demo

test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core tools

bench: install-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
