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

# A venv made by `uv venv` or `python -m venv --without-pip` has no pip: bootstrap it from
# the interpreter's bundled wheel (offline) before fetching uv.
$(UV): $(BIN)/python
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

venv: $(UV)

# --inexact: `make demo` after `make test` keeps the dev extras instead of uninstalling them.
install: $(UV)
	$(UV) sync --frozen --inexact --no-dev --python $(BIN)/python

install-dev: $(UV)
	$(UV) sync --frozen --extra dev --python $(BIN)/python

lock: $(UV)
	$(UV) lock

demo: install
	$(BIN)/quorum demo

# pytest exits 5 when it collected no test; that fails the target like any other failure.
# PYTEST_ARGS narrows a run: make test PYTEST_ARGS="tests/unit/core -x".
PYTEST_ARGS ?=
test: install-dev
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core tools

bench: install-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
