# pilotfish: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: venv demo test lint typecheck unit e2e bench clean

$(BIN)/pilotfish: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# xds-protos ships an old copy of the OpenTelemetry protos into the same package directory;
	# the tests compare the collector's own OTLP messages with the pinned opentelemetry-proto,
	# which must be the one on disk, whatever order pip installed them in (pilotfish itself
	# imports neither copy)
	$(BIN)/pip install -q --force-reinstall --no-deps "$$(grep -o 'opentelemetry-proto==[0-9.]*' pyproject.toml)"
	touch $@

venv: $(BIN)/pilotfish

## Run the mesh with the Bookinfo sample (Ctrl-C stops everything).
demo: venv
	$(BIN)/pilotfish up samples/bookinfo

lint: venv
	$(BIN)/ruff check src tests bench samples
	$(BIN)/ruff format --check src tests bench samples

typecheck: venv
	$(BIN)/mypy src tests bench

## Set up and run every check: lint, types, unit, golden and end-to-end tests.
# Modules spread over two xdist workers, each module on one (its shared mesh starts once); the
# `host_network` modules take turns through a lock (tests/conftest.py). The 25 slowest steps are
# listed at the end, to keep the suite within its time budget.
test: venv lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25

unit: venv
	$(BIN)/pytest -q -m "not e2e"

e2e: venv
	$(BIN)/pytest -q -m e2e

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
