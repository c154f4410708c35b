# joulebook: the two commands are `make report` and `make test`.
# Each creates .venv if it is missing and (re)installs the project, with the exact versions of
# constraints.txt, only when pyproject.toml, setup.py or constraints.txt changed, so a second run is quick.
# `make setup CONSTRAINTS=` installs the newest versions the declared ranges allow instead.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
JOBS ?= 2
# `make test` runs the suite on this many pytest-xdist workers (tests/conftest.py keeps each notebook on one)
TEST_WORKERS ?= 2
EXTRAS ?= lab,dev,browser
CONSTRAINTS ?= constraints.txt
# extra options for `make lab`, e.g. LAB_ARGS="--no-browser --port 8890"
LAB_ARGS ?=

.PHONY: all setup report test lint lab bench constraints clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml setup.py $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[$(EXTRAS)]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (joulebook)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

report: $(STAMP)
	$(BIN)/joulebook reports build --jobs $(JOBS) --out reports

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check setup.py lib tests benchmarks scripts

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/bench_measure.py
	$(BIN)/python benchmarks/bench_reports.py

# Re-lock: write the versions now in .venv, without joulebook itself, into constraints.txt
# (newest allowed versions: `make clean && make constraints CONSTRAINTS=`).
constraints: $(STAMP)
	{ sed -n '/^#/!q;p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable --exclude joulebook; } > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt
	touch $(STAMP)  # .venv is exactly the new lock: no reinstall

clean:
	rm -rf $(VENV) reports build
