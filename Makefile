# Two commands for a new machine: `make run` (the whole pipeline) and `make test`.
# Both create or reuse .venv and install exactly the pinned versions in constraints.txt.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
EXTRAS ?= dev
# The install is redone only when the dependency spec changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)-$(EXTRAS)

# No telemetry or hub calls from anything make starts (README.md, "Configuration", Offline).
export GX_ANALYTICS_ENABLED = false
export DO_NOT_TRACK = true
export MLFLOW_DISABLE_TELEMETRY = true
export PREFECT_SERVER_ANALYTICS_ENABLED = false
export BENTOML_DO_NOT_TRACK = true
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export OMP_WAIT_POLICY = PASSIVE
export PATH := $(BIN):$(PATH)

.PHONY: install run test lint bench clean help

help:
	@echo "make run    - set up .venv, run the pipeline (dvc repro), one loop (retrain, serve, paper trade), summary"
	@echo "make clean  - remove pipeline outputs (git-ignored files under data/ models/ reports/"
	@echo "              .alphaloop/); tracked files, committed reports and mlruns/ stay"
	@echo "make test   - set up .venv and run the tests"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks, results in bench/RESULTS.md"

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	dvc repro
	alphaloop loop
	alphaloop summary

test: install
	python -m pytest

lint: install
	ruff check .
	mypy

bench: install
	python bench/features.py
	python bench/backtest.py
	python bench/predict.py
	python bench/regime.py
	python bench/sentiment.py
	python bench/pipeline.py
	python bench/retrain.py
	python bench/serving.py
	python bench/trader.py

# Outputs only: git-ignored files, so tracked files (the .gitignore files DVC needs, the
# committed reports, data/text/headlines.csv) stay. The MLflow registry in mlruns/ stays too.
clean:
	git clean -fdX -- data models reports .alphaloop
	rm -rf .pytest_cache .mypy_cache .ruff_cache
