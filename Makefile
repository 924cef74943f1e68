# Everything runs inside .venv, created on first use from pyproject.toml.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

demo: $(STAMP)  ## the main job: an end-to-end run on an embedded SQLite file
	$(PYTHON) -m lifecycle.demo

test: $(STAMP)  ## the test suite (PostgreSQL too when LIFECYCLE_TEST_POSTGRES_URL is set)
	$(PYTHON) -m pytest

lint: $(STAMP)
	$(PYTHON) -m ruff check lifecycle tests bench
	$(PYTHON) -m mypy --strict lifecycle

bench: $(STAMP)
	$(PYTHON) bench/transition.py
	$(PYTHON) bench/sweep.py
	$(PYTHON) bench/storage.py

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) lifecycle-demo.db
