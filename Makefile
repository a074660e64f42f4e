# One entry point for every routine task. The virtual environment is created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint typecheck format bench bench-quick demo clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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
	$(BIN)/python -m bench run

bench-quick: $(STAMP)
	$(BIN)/python -m bench run --quick

clean:
	rm -rf $(VENV) .var .pytest_cache .mypy_cache .ruff_cache
