# The two commands of the README: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev lint typecheck mariadb redis chromium proto proto-check \
	web-chat-screenshot bench bench-startup bench-background bench-workers bench-streams \
	bench-galera bench-search bench-budgets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Strict editable mode links the sources under the `chatservice` name, which mypy and
# import-linter can follow (the default editable finder is invisible to them).
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . --config-settings editable_mode=strict

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=strict

run: install
	$(BIN)/chatservice serve

mariadb:
	scripts/ensure-mariadb

redis:
	scripts/ensure-redis

# Debian's Chromium for the web chat's browser tests (installed with apt when missing).
chromium:
	scripts/ensure-chromium

# Regenerate docs/web-chat.png, the README's picture of the web chat page.
web-chat-screenshot: install-dev chromium
	$(BIN)/python scripts/web-chat-screenshot.py

lint: install-dev
	$(BIN)/ruff check src tests alembic bench scripts
	$(BIN)/ruff format --check src tests alembic bench scripts
	$(BIN)/lint-imports

# From the repository root, so that pyproject.toml's strict settings apply.
typecheck: install-dev
	$(BIN)/mypy -p chatservice

# Regenerate the gRPC code from protos/ with the pinned grpcio-tools.
proto: install-dev
	PYTHON=$(BIN)/python scripts/generate-protos

# CI: the checked-in generated code must be what `make proto` makes.
proto-check: proto
	git diff --exit-code -- src/entrypoints/grpc/generated
	test -z "$$(git status --porcelain -- src/entrypoints/grpc/generated)"

test: install-dev mariadb redis chromium lint typecheck proto-check
	$(BIN)/pytest -q

# Every benchmark of docs/benchmarks.md, against the real service on SQLite, MariaDB and the
# Galera cluster (about half an hour); rewrites docs/benchmarks.md and its plots.
bench: install-dev mariadb redis
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]' --config-settings editable_mode=strict
	$(BIN)/python bench/run.py

# Start-up alone (a minute, no MariaDB): rewrites only that section of docs/benchmarks.md.
bench-startup: install-dev
	$(BIN)/python bench/run.py --only startup

# The memory of 500 background turns, in-process and on Redis (a minute): rewrites only that
# section of docs/benchmarks.md.
bench-background: install-dev redis
	$(BIN)/python bench/run.py --only background

# 1 against 2 workers: HTTP turns/s at 32 connections beside the turn's SQL by hand on the bare
# driver, five interleaved rounds on MariaDB (about five minutes): rewrites only that section.
bench-workers: install-dev mariadb
	$(BIN)/python bench/run.py --only workers

# 500 concurrent streams with 1 and with 2 workers, five interleaved rounds on MariaDB (about
# three minutes): rewrites only that section of docs/benchmarks.md.
bench-streams: install-dev mariadb
	$(BIN)/python bench/run.py --only streams

# A turn on the three-node Galera cluster of scripts/galera-cluster against one MariaDB (about
# ten minutes). Starts the cluster (waiting while a test session holds it) and stops it after.
bench-galera: install-dev mariadb
	$(BIN)/python bench/run.py --only galera

# Chat search against the size of the table, on SQLite and MariaDB (a few minutes): rewrites only
# that section of docs/benchmarks.md.
bench-search: install-dev mariadb
	$(BIN)/python bench/run.py --only search

# A budget claim against the size of the account's ledger, and 16 claims at once on one account
# and on 16, on SQLite and MariaDB (a few minutes): rewrites only that section of
# docs/benchmarks.md.
bench-budgets: install-dev mariadb
	$(BIN)/python bench/run.py --only budgets
