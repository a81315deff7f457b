# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint sim sim-ci clean

$(BIN)/fiscalsync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/fiscalsync
	$(BIN)/fiscalsync demo $(DIR)

lint: $(BIN)/fiscalsync
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Tests run in parallel, one worker per core (an idle worker takes tests queued for a busy
# one); `make test JOBS=0` runs them in one process.
JOBS ?= auto

test: lint
	$(BIN)/pytest -n $(JOBS) --dist worksteal $(PYTEST_ARGS)

# The simulation of a whole province under faults, by hand, on every core:
# `make sim SEEDS=50000`; a failing seed is printed with the command that replays it.
SEEDS ?= 500
STEPS ?= 150

sim: $(BIN)/fiscalsync
	$(BIN)/python -m tests.sim --seeds $(SEEDS) --steps $(STEPS)

# The continuous-integration run, after `make test` (.ci/run): 500 seeds with every fault,
# each seed drawing its length from 30 to 150 steps, in parallel on every core. A seed's
# history is a function of the seed alone, so a failing seed is printed with the command
# that replays it (which also shrinks it; CI does not, to stay within its time).
sim-ci: $(BIN)/fiscalsync
	$(BIN)/python -m tests.sim --seeds 500 --steps 150 --shortest 30 --no-shrink

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
