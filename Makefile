# The two commands of the README: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev lint typecheck mariadb proto proto-check

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

test: install-dev mariadb lint typecheck proto-check
	$(BIN)/pytest -q
