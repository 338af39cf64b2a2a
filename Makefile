# Every target bootstraps the virtual environment it needs (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv demo up test test-fast lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv with pinned dependencies

demo: $(STAMP) ## Start the stack, export through each API over HTTP, download, stop
	$(BIN)/report-exports demo

up: $(STAMP) ## Start the Prefect server, served flows and the API (Ctrl-C stops)
	$(BIN)/report-exports up

test: $(STAMP) ## Run the whole suite (postgres tests need REPORT_EXPORTS_TEST_POSTGRES_URL)
	$(BIN)/pytest

test-fast: $(STAMP) ## The suite without slow-marked tests
	$(BIN)/pytest -m "not slow"

lint: $(STAMP) ## ruff, the import contracts (layers) and mypy
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy report_exports catalog jobstore storage tasks flows deployments demo_data api_shim surfaces submission cli benchmarks

bench: $(STAMP) ## Benchmarks vs psql, DuckDB, pandas, polars, rustpy-xlsxwriter at 1M and 5M rows (long); see benchmarks/
	$(BIN)/pip install -q -c constraints.txt -e '.[test,bench]'
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean: ## Remove local state (var/) and the virtual environment
	-$(BIN)/report-exports prefect-server --stop 2>/dev/null
	rm -rf var $(VENV)
