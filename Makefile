# vbcsim: two commands on a fresh machine (needs python3 >= 3.11 and make).
#   make demo    install into .venv and run the reference scenario
#   make test    install with the dev extras and run the test suite
#   make bench   engine throughput and memory, end-to-end times, speed-ups over a baseline (by hand)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCENARIO ?= scenarios/reference_global_budget.toml

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(BIN)/vbcsim run $(SCENARIO) --out results/demo --force

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

# the default install alone (no extras), for timing commands as a user of it waits for them
.venv-run/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-run
	.venv-run/bin/python -m pip install --quiet -e .
	touch $@

bench: $(VENV)/.installed-bench .venv-run/.installed
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_settle.py
	$(BIN)/python benchmarks/bench_end_to_end.py --default-install .venv-run/bin/python
	$(BIN)/python benchmarks/bench_baseline.py --default-install .venv-run/bin/python

clean:
	rm -rf $(VENV) .venv-run results/demo results/demo.partial
