# Everything a fresh machine needs: `make demo` and `make test` create .venv and install on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench bench-smoke notebooks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/asa-bulk demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check asa_bulk tests

typecheck: $(STAMP)
	$(BIN)/mypy

# Branch coverage of asa_bulk, CLI and sandbox subprocesses included (settings: pyproject.toml);
# `coverage report` fails the target below [tool.coverage.report] fail_under.
unit: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks --smoke

# Re-run every notebook against the sandbox and save it with its outputs (tests check they are fresh).
notebooks: $(STAMP)
	$(BIN)/python notebooks/run_notebooks.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov build dist *.egg-info
