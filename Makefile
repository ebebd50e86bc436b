# One entry point: `make demo` runs the pipeline on the built-in demo, `make test` runs the tests.
# Both create .venv from the pinned requirements and install system packages when missing.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= $(shell command -v python3.11 || command -v python3)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup system-deps demo paper test test-all dag clean-demo

setup: system-deps $(VENV)/.installed

# ffmpeg and OpenCV's libraries are needed to run; Chromium only for the browser tests (the report
# page, the rating page), so without root it is a warning, not an error.
system-deps:
	@need=""; want=""; \
	  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need="$$need ffmpeg"; \
	  ldconfig -p | grep -q libGL.so.1 || need="$$need libgl1 libglib2.0-0"; \
	  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || want=" chromium"; \
	  if [ -n "$$need$$want" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's$$need$$want ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need $$want >/dev/null || exit 1; \
	  elif [ -n "$$need" ]; then \
	    echo "error: missing$$need (ffmpeg and OpenCV's libgl1/libglib2.0-0); install them, e.g. 'sudo apt-get install$$need'" >&2; exit 1; \
	  elif [ -n "$$want" ]; then \
	    echo "note: Chromium is missing, so the browser tests will skip ('sudo apt-get install chromium')" >&2; \
	  fi

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "error: Python 3.11 is required (found $$($(PYTHON) --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

demo: setup
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "error: run inside the git clone (DVC needs it)" >&2; exit 1; }
	$(BIN)/dancegen repro

# The paper's setting (params.paper.yaml) as a DVC experiment named "paper"; params.yaml is kept.
paper: setup
	@args=$$($(BIN)/python -m dancegen.core.config --set-args params.paper.yaml) || exit 1; \
	  $(BIN)/dvc exp run -n paper $$args

# One test process per core, up to 4 (pytest-xdist), a file's tests kept in one process (its module
# fixtures are built once) and handed out in file order, the end-to-end pipeline test first.
XDIST := -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder

test: setup
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow and not gpu"

test-all: setup
	$(BIN)/python -m pytest -q $(XDIST)

# Rewrite README.md's pipeline graph from `dvc dag --md` (tests/test_readme.py checks it).
dag: setup
	@$(BIN)/dvc dag --md > README.md.dag && \
	  awk '/<!-- dag:end -->/ {skip = 0} !skip {print} /<!-- dag:begin -->/ {while ((getline line < "README.md.dag") > 0) print line; skip = 1}' \
	  README.md > README.md.new && mv README.md.new README.md && rm README.md.dag && echo "README.md: graph written"
