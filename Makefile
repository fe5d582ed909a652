# One venv, built idempotently: `install` re-runs pip only when pyproject.toml changed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= small
SEED ?= 7

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and by exact version: pip then takes the CPU wheel that lies on this machine.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: install
	$(BIN)/closetflow run --scale $(SCALE) --seed $(SEED) --out var/run

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: install
	$(BIN)/python benchmarks/bench_solve.py --scales tiny small medium
	$(BIN)/python benchmarks/bench_solvers.py
	$(BIN)/python benchmarks/bench_forecast.py
	$(BIN)/python benchmarks/bench_scale.py --scales tiny small medium

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
