# Lifecycle CRM — `make run` and `make test` do all set-up on a machine with Python 3.11+.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package pinned with its hashes (pip-tools); `make lock` rewrites them from pyproject.toml.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(PIP_COMPILE_ARGS)

.PHONY: run test lint install lock migrate worker web bench clean

run: install ## Migrate, load demo data when empty, start web (:8000) + worker
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_schedules
	$(PY) manage.py bootstrap_dev
	$(PY) manage.py rundev 127.0.0.1:8000

test: install ## Run the test suite (DATABASE_URL / REDIS_URL select the backends)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

install: $(STAMP)

$(STAMP): pyproject.toml $(DEV_LOCK)
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.11 or newer is required (python3.11, python3.12 ...)"; exit 1; fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lock: ## Re-pin requirements.lock and requirements-dev.lock from pyproject.toml (PIP_COMPILE_ARGS=--upgrade to move pins)
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.11 or newer is required (python3.11, python3.12 ...)"; exit 1; fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "pip-tools>=7.4,<8"
	$(PIP_COMPILE) --extra sentry --output-file $(LOCK) pyproject.toml
	# The dev lock is solved under the app lock, so the two agree on every shared package.
	$(PIP_COMPILE) --extra sentry --extra dev --constraint $(LOCK) --output-file $(DEV_LOCK) pyproject.toml

migrate: install
	$(PY) manage.py migrate --noinput

web: install
	$(PY) manage.py runserver 127.0.0.1:8000

worker: install
	$(PY) manage.py qcluster

# Benchmarks (bench/README.md). Default: 10k contacts on SQLite and PostgreSQL (127.0.0.1:5432),
# a few minutes. Pass-through: make bench BENCH_ARGS="--contacts 100000 --db postgres --profile"
BENCH_ARGS ?=
bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles *.egg-info
