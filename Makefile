# The two commands of the README: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev lint typecheck mariadb

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

lint: install-dev
	$(BIN)/ruff check src tests alembic bench
	$(BIN)/ruff format --check src tests alembic bench
	$(BIN)/lint-imports

typecheck: install-dev
	cd /tmp && $(abspath $(BIN))/mypy -p chatservice

test: install-dev mariadb lint typecheck
	$(BIN)/pytest -q
