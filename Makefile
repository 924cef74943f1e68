# Everything runs inside .venv, created on first use from pyproject.toml.
# The main job needs only the package; the tests, the linters and the benchmarks need the
# development tools too. Each install leaves its stamp; the development install includes the
# package, so it renews the package's stamp as well and `make demo` after `make test` installs
# nothing more, while `make test` after `make demo` adds the tools.
VENV    := .venv
PYTHON  := $(VENV)/bin/python
PACKAGE := $(VENV)/.installed-package
DEV     := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean

demo: $(PACKAGE)  ## the main job: an end-to-end run on an embedded SQLite file
	$(PYTHON) -m lifecycle.demo

test: $(DEV)  ## the test suite (PostgreSQL too when LIFECYCLE_TEST_POSTGRES_URL is set)
	$(PYTHON) -m pytest

lint: $(DEV)
	$(PYTHON) -m ruff check lifecycle tests bench
	$(PYTHON) -m mypy --strict lifecycle

bench: $(DEV)
	$(PYTHON) bench/transition.py
	$(PYTHON) bench/sweep.py
	$(PYTHON) bench/storage.py

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

$(PACKAGE): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e .
	touch $(PACKAGE)

$(DEV): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e '.[dev,postgres]'
	touch $(DEV) $(PACKAGE)

clean:
	rm -rf $(VENV) lifecycle-demo.db
