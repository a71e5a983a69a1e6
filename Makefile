.PHONY: run test check lint types format

run:
	scripts/run

test:
	scripts/test $(PYTEST_ARGS)

# What CI runs before the tests: lint and types, failing on any finding.
check: lint types

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# DEBUG=true only lets the settings load without a SECRET_KEY (the Django plugin imports them).
types:
	DEBUG=true .venv/bin/mypy

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .
