# One entry point for every routine task. The virtual environment is created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint typecheck format bench bench-quick demo clean mutants

$(STAMP): pyproject.toml adapters/testkit/pyproject.toml adapters/sims/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e adapters/testkit -e adapters/sims
	@touch $(STAMP)

install: $(STAMP)

## Run the platform on the embedded default: SQLite, embedded queue, sample province, simulators.
run: $(STAMP)
	$(BIN)/lgsp dev

## The whole test suite, plus lint and type checks.
test: $(STAMP) check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check lgsp adapters tests bench
	$(BIN)/ruff format --check lgsp adapters tests bench

typecheck: $(STAMP)
	$(BIN)/mypy lgsp adapters

format: $(STAMP)
	$(BIN)/ruff format lgsp adapters tests bench
	$(BIN)/ruff check --fix lgsp adapters tests bench

demo: $(STAMP)
	$(BIN)/lgsp demo

bench: $(STAMP)
	bench/setup.sh
	$(BIN)/python -m bench run

bench-quick: $(STAMP)
	bench/setup.sh
	$(BIN)/python -m bench run --quick

## Mutation testing of the rule modules (tools/mutation.toml); not part of `make test` or CI.
## MODULES="auth-tokens outbox" runs some of them; the report is docs/testing.md.
mutants: $(STAMP)
	$(BIN)/python tools/mutation.py $(foreach m,$(MODULES),--module $(m))

clean:
	rm -rf $(VENV) .var .pytest_cache .mypy_cache .ruff_cache
