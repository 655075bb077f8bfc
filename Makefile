# The two commands: `make run` (build everything on the default data) and `make test`.
# Each first installs the locked environment into .venv (installing uv if missing).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
# `setup` syncs (and compiles every module's bytecode) once per change of the lock;
# the commands then run in that environment without syncing it again.
RUN := $(UV) run --frozen --no-sync
SYNCED := .venv/.synced
PACKAGES := orchestration assets ingest indicators ml backtests feature_repo

.PHONY: setup run test test-all lint ui bench clean

setup: $(SYNCED)  ## install .venv from uv.lock (again only when the lock changes)

$(SYNCED): uv.lock pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@# the project itself is installed from source (editable), which uv does not compile:
	@# where bytecode caching is off, every process would compile it again
	$(RUN) python -m compileall -q $(PACKAGES)
	@touch $@

run: setup  ## build the whole graph on the built-in default data and print the backtest summary
	$(RUN) alphadag run

test: setup  ## the test suite (slow tests excluded)
	$(RUN) pytest

test-all: setup  ## every test, slow ones included
	$(RUN) pytest -m ""

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

ui: setup  ## the Dagster UI on http://127.0.0.1:3000
	$(RUN) alphadag ui

bench: setup  ## benchmarks; results in bench/results/latest.json
	$(RUN) python -m bench

clean:  ## remove build artefacts (not ALPHADAG_HOME)
	rm -rf dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
