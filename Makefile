# Two commands are all a new user needs: `make book` and `make test`.
# Both create .venv (or rebuild it when requirements.txt or pyproject.toml change), then work inside it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going --builder html

.PHONY: setup book test unit notebooks site browser lab gpu-check bench reproduce clean help

help:
	@echo "make book       set up .venv, then build the website into _build/html"
	@echo "make test       set up .venv, then run every test (unit, notebooks, book build, browser)"
	@echo "make lab        open the chapters in JupyterLab"
	@echo "make gpu-check  GPU tests and the paper-size runs (needs CUDA)"
	@echo "make bench      benchmarks (speed ratios, not tests)"
	@echo "make reproduce  the papers' results into results/ (PRESET=quick|cpu|paper, default cpu)"
	@echo "make clean      remove the build and the virtual environment"

# A venv whose interpreter no longer runs (moved, Python upgraded) is rebuilt from scratch.
$(STAMP): requirements.txt pyproject.toml
	@if ! $(BIN)/python -c "import sys" >/dev/null 2>&1; then rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

book: setup
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	@echo "Open $(CURDIR)/_build/html/index.html"

# The site shows the outputs stored in the notebooks; nbval checks that they still reproduce.
test: setup unit notebooks site browser

unit: setup
	$(BIN)/python -m pytest -m "not browser and not gpu" --doctest-modules --ignore=initlib/__main__.py tests initlib

notebooks: setup
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout 120 -p no:cacheprovider chapters

site: setup
	rm -rf _build/html
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

browser: setup
	$(BIN)/python -m pytest -m browser tests

lab: setup
	$(BIN)/jupyter lab chapters

gpu-check: setup
	$(BIN)/python -m pytest -m gpu tests
	$(BIN)/python -m initlib propagate --preset paper --depth 30 --activation relu --init kaiming_normal
	$(BIN)/python -m initlib propagate --preset paper --depth 30 --activation relu --init xavier_normal

bench: setup
	$(BIN)/python benchmarks/bench_engine.py --threads 1
	$(BIN)/python benchmarks/bench_width.py
	$(BIN)/python benchmarks/bench_lsuv.py

PRESET ?= cpu
reproduce: setup
	$(BIN)/python -m reproductions --preset $(PRESET)

clean:
	rm -rf _build $(VENV) *.egg-info
