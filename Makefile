# Two commands set up a fresh machine: `make demo` and `make test`. Each builds .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: demo test lint bench install browser-deps receiver-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# llama-cpp-python compiles from source the first time (about 5 minutes); pip caches the wheel.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Runs the quickstart notebook headless and writes demo/01_quickstart.html;
# `make demo LAB=1` opens it in JupyterLab instead.
demo: install
ifdef LAB
	$(PY) -m jupyter lab example_notebooks/01_quickstart.ipynb
else
	$(PY) -m jupyter nbconvert --to html --execute example_notebooks/01_quickstart.ipynb --output-dir demo
	@echo "Open demo/01_quickstart.html, or run 'make demo LAB=1' to watch it live in JupyterLab."
endif

# Lint, formatting and types first (fast, and they fail on any finding), then every test.
# llama-server is built once from llama-cpp-python's vendored llama.cpp (about 6 minutes; cached).
test: install browser-deps receiver-deps lint
	$(PY) -m xybrid_notebook.llama_tools build llama-server
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check xybrid_notebook tests benchmarks
	$(PY) -m ruff format --check xybrid_notebook tests benchmarks
	$(PY) -m mypy

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's Prometheus for the telemetry tests (MLflow gets a virtual environment of its own on first use).
receiver-deps:
	@command -v prometheus >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq prometheus >/dev/null; }

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts demo
