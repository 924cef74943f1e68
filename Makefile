# Everything runs inside .venv, created on first use from pyproject.toml.
# The main job needs only the package; the tests, the linters and the benchmarks need the
# development tools too. Each install leaves its stamp; the development install includes the
# package, so it renews the package's stamp as well and `make demo` after `make test` installs
# nothing more, while `make test` after `make demo` adds the tools.
VENV    := .venv
PYTHON  := $(VENV)/bin/python
PACKAGE := $(VENV)/.installed-package
DEV     := $(VENV)/.installed-dev
BENCH   := $(VENV)/.installed-bench
RESULTS := bench-results

.PHONY: demo test lint bench clean

demo: $(PACKAGE)  ## the main job: an end-to-end run on an embedded SQLite file
	$(PYTHON) -m lifecycle.demo

# One worker per core (pytest-xdist); each worker has its own PostgreSQL database (tests/conftest.py).
test: $(DEV)  ## the test suite (PostgreSQL too when LIFECYCLE_TEST_POSTGRES_URL is set)
	$(PYTHON) -m pytest -n auto --dist worksteal

lint: $(DEV)
	$(PYTHON) -m ruff check lifecycle tests bench
	$(PYTHON) -m mypy --strict lifecycle

# Every benchmark (PostgreSQL too when LIFECYCLE_BENCH_POSTGRES_URL or LIFECYCLE_TEST_POSTGRES_URL is
# set: its lifecycle tables are dropped), each writing its figures to $(RESULTS)/, then one table of
# every ratio with its target. Options per benchmark: make bench SWEEP_ARGS='--due 20000' ...
# A new benchmark gets a line here and writes `targets` into its --json (bench/benchdb.py: target).
bench: $(BENCH)
	rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	$(PYTHON) bench/transition.py --json $(RESULTS)/transition.json $(TRANSITION_ARGS)
	$(PYTHON) bench/concurrency.py --json $(RESULTS)/concurrency.json $(CONCURRENCY_ARGS)
	$(PYTHON) bench/async_concurrency.py --json $(RESULTS)/async_concurrency.json $(ASYNC_CONCURRENCY_ARGS)
	$(PYTHON) bench/batch.py --json $(RESULTS)/batch.json $(BATCH_ARGS)
	$(PYTHON) bench/sweep.py --json $(RESULTS)/sweep.json $(SWEEP_ARGS)
	$(PYTHON) bench/feed.py --json $(RESULTS)/feed.json $(FEED_ARGS)
	$(PYTHON) bench/storage.py --only sqlite --json $(RESULTS)/storage-sqlite.json $(STORAGE_ARGS)
	$(PYTHON) bench/storage.py --only postgresql --json $(RESULTS)/storage-postgresql.json $(STORAGE_ARGS)
	$(PYTHON) bench/cli_start.py --json $(RESULTS)/cli_start.json $(CLI_START_ARGS)
	$(PYTHON) bench/verify.py --json $(RESULTS)/verify.json $(VERIFY_ARGS)
	$(PYTHON) bench/listing.py --json $(RESULTS)/listing.json $(LISTING_ARGS)
	$(PYTHON) bench/server.py --json $(RESULTS)/server.json $(SERVER_ARGS)
	@echo
	$(PYTHON) bench/summary.py $(addprefix $(RESULTS)/,transition.json concurrency.json \
		async_concurrency.json batch.json sweep.json feed.json storage-sqlite.json storage-postgresql.json cli_start.json \
		verify.json listing.json server.json)

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

$(PACKAGE): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e .
	touch $(PACKAGE)

$(DEV): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e '.[dev,postgres]'
	touch $(DEV) $(PACKAGE)

# The benchmarks' peer (django-fsm-2 + django-fsm-log) on top of the development install.
$(BENCH): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e '.[dev,postgres,bench]'
	touch $(BENCH) $(DEV) $(PACKAGE)

clean:
	rm -rf $(VENV) lifecycle-demo.db $(RESULTS)
