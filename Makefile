# daytwo: `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
# What `make demo` needs (daytwo and its runtime dependencies) and what `make test` adds
# (the test tools, the browser driver and the optional MiniLM encoder with torch).
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
STAMP := $(VENV)/.installed-$(HASH)
PYTEST_ARGS ?=
# The suite runs in two worker processes (pytest-xdist), a test file to a worker so a file's
# fixtures are built once: twice as fast on two cores. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: help install system-deps demo serve test check lint format bench clean docs

help:
	@echo "make demo    build the demo deployment and serve the UI on http://127.0.0.1:8000/"
	@echo "             (make demo PORT=8080 serves on another port; its history is replayed"
	@echo "             day by day, make demo DEMO_ARGS=--no-history analyses once, quicker)"
	@echo "             (it installs with uv, pip where uv cannot be had; INSTALLER=pip: pip only)"
	@echo "make test    lint, type-check and run the whole test suite (as CI does)"
	@echo "make bench   run the benchmarks; results in bench/results/*.json"
	@echo "make check   ruff, mypy, the import contracts, bandit (no high findings) and pip-audit"

# scripts/install.sh creates the environment and installs with uv (from PATH, or installed
# once from PyPI into ~/.cache/daytwo/uv), pip where uv cannot be had; INSTALLER=pip: pip only.
INSTALLER ?= uv
INSTALL := VENV=$(VENV) PYTHON=$(PYTHON) INSTALLER=$(INSTALLER) scripts/install.sh

$(RUN_STAMP): pyproject.toml scripts/install.sh
	@$(INSTALL) run
	@rm -f $(VENV)/.installed-run-*
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	@$(INSTALL) dev
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

system-deps:
	@scripts/system-deps.sh

demo: $(RUN_STAMP)
	$(BIN)/daytwo demo --host $(HOST) --port $(PORT) $(DEMO_ARGS)

serve: $(RUN_STAMP)
	$(BIN)/daytwo serve --host $(HOST) --port $(PORT)

# bandit fails on any high-severity finding; pip-audit checks the installed dependencies
# against PyPI's advisory data and fails on a known vulnerability (versions PyPI does not
# know, as on a private mirror, are listed as skipped, not passed).
check: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/mypy bench
	$(BIN)/lint-imports --no-cache
	$(BIN)/bandit -q -r src --severity-level high
	$(BIN)/pip-audit --progress-spinner off --local --skip-editable

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: install system-deps check
	scripts/with-postgres.sh $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis daytwo-data

docs: install
	$(BIN)/typer daytwo.cli.main utils docs --name daytwo --output docs/cli.md
	$(BIN)/python -m daytwo.metrics.docs > docs/metrics.md
	$(BIN)/python -m daytwo.pipeline.docs > docs/detectors.md
