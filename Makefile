# tks_lava: the README's commands. `make demo` and `make test` set up .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
# Another interpreter gets its own venv: make VENV=.venv-py313 PYTHON=python3.13 test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tks_lava-installed
# lava-nc / lava-dl declare Python <3.11 and pin torch<2.4, numpy<2, pytest<8; tonic requires
# expelliarmus, which it never imports and which has no wheel for Python >= 3.12. Install these
# three without their metadata constraints; their real runtime needs are listed in pyproject.toml.
NODEPS_PKGS := lava-nc==0.10.0 lava-dl==0.6.0 tonic==1.7.0

.PHONY: help setup demo test test-fast lint bench study notebook clean-venv gpu-check

help:
	@echo "make demo   - set up .venv, train TKS + baseline on the offline dataset, run them in Lava"
	@echo "make test   - set up .venv and run the whole test suite (what CI runs)"
	@echo "make bench  - measure training, data and Lava costs; writes BENCHMARKS.md"
	@echo "make gpu-check - on a CUDA machine: exact kernels vs CPU, speed, train -> Lava (DRY=1: CPU)"
	@echo "make study  - TKS vs baselines over seeds (hours on 2 cores, resumable); writes STUDY.md"
	@echo "make notebook - install JupyterLab into .venv (once), serve the walkthroughs, print their URL (PORT=8899)"
	@echo "make lint   - ruff"
	@echo "Another Python (3.10-3.13): make PYTHON=python3.12 demo; its own venv: make VENV=.venv-py312 PYTHON=python3.12 test"

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 13) else 1)' 2>/dev/null \
	  || { echo "tks_lava needs Python 3.10 to 3.13; '$(PYTHON)' is: $$($(PYTHON) -V 2>&1 | head -1)." \
	            "Install one (e.g. apt install python3.12-venv, or pyenv) and run: make PYTHON=python3.12 $(or $(MAKECMDGOALS),demo)" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23" 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither"; test $${PIPESTATUS[0]} -eq 0
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python $(NODEPS_PKGS) 2>&1 | grep -v "is ignored: it is neither"; test $${PIPESTATUS[0]} -eq 0
	$(PY) -c 'import tks_lava, lava.lib.dl.netx, lava.lib.dl.slayer; print("tks_lava", tks_lava.__version__, "ready")'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tks_lava.demo $(if $(RETRAIN),--retrain)

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check tks_lava tests benchmarks

bench: $(STAMP)
	$(PY) -m benchmarks

# GPU check (issue #21): writes benchmarks/results/gpu.json; DRY=1 runs the plumbing on the CPU.
gpu-check: $(STAMP)
	$(PY) -m benchmarks.gpu_check $(if $(DRY),--dry-run)

# GRIDS="main ablation" adds the pre-registered TKS ablation (see STUDY.md); other grids:
# sensitivity, exploratory. JOBS=N runs at a time.
study: $(STAMP)
	$(PY) -m tks_lava.study $(foreach g,$(or $(GRIDS),main),--grid $(g)) $(if $(JOBS),--jobs $(JOBS))

NB_STAMP := $(VENV)/.tks_lava-notebook
$(NB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,notebook]' 2>&1 | grep -v "is ignored: it is neither"; test $${PIPESTATUS[0]} -eq 0
	@touch $(NB_STAMP)

# Works headless and in containers: no browser is opened (open the URL with its token that
# JupyterLab prints), --allow-root when run as root, PORT=8899 for another port, IP=0.0.0.0 to
# listen beyond this machine (default: loopback only). tests/test_notebook_server.py runs it.
PORT ?= 8888
IP ?= 127.0.0.1
NOTEBOOK_APP ?= lab
notebook: $(NB_STAMP)
	$(VENV)/bin/jupyter $(NOTEBOOK_APP) --no-browser --ip=$(IP) --port=$(PORT) $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

clean-venv:
	rm -rf $(VENV)
