# One venv, built idempotently: `install` re-runs pip only when pyproject.toml changed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= small
SEED ?= 7

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and by exact version: pip then takes the CPU wheel that lies on this machine.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# statsforecast (the statistical baselines) without dependencies: its metadata and fugue's cap
	# pandas below 3, which would downgrade the whole project (whose tests need pandas 3). Its other
	# dependencies are in pyproject.toml; the adapters' tests (tests/forecasting/test_backtest.py)
	# check it works on the pandas installed here.
	$(BIN)/python -m pip install --quiet --no-deps "statsforecast>=2.1.1,<2.2" "fugue>=0.9.4,<0.10"
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

.PHONY: bench-forecast
bench-forecast: install
	$(BIN)/python benchmarks/forecast_accuracy.py --json var/bench/forecast_accuracy.json

# Tonight's solve per scale and method (benchmarks/solve_scaling.py); SCALES=small,medium,large,rtr to
# extend, VS_NAIVE=1 to add the naive PuLP/CBC anchor (up to 10 minutes per scale; not for large/rtr).
.PHONY: bench-solve-scaling
SCALES ?= small,medium
bench-solve-scaling: install
	$(BIN)/python benchmarks/solve_scaling.py --scales $(SCALES) $(if $(VS_NAIVE),--vs-naive) \
		--json var/bench/solve_scaling.json
