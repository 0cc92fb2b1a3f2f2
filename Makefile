# w2v_lite developer tasks (GNU make). `make test` works from a fresh clone: it builds .venv first.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime-installed
STAMP   := $(VENV)/.installed

# Deterministic hashing for reproducible runs; thread count is left to torch/OpenMP defaults.
export PYTHONHASHSEED := 0

NOTEBOOKS  := $(wildcard notebooks/*.ipynb)
LINT_PATHS := $(wildcard w2v_lite tests scripts benchmarks)

.DEFAULT_GOAL := help
.PHONY: help install demo test lint notebooks figures bench test-browser clean distclean

help:
	@echo "make demo          run 'python -m w2v_lite explain' on the embedded clip"
	@echo "make test          ruff + pytest tests + nbval notebooks (twice: also ATEN_CPU_CAPABILITY=default)"
	@echo "make notebooks     re-execute notebooks/*.ipynb in place"
	@echo "make figures       regenerate figures (python -m w2v_lite figures)"
	@echo "make bench         run benchmarks/forward.py"
	@echo "make test-browser  widget tests in headless chromium (tests/browser)"
	@echo "make clean         remove caches and build outputs (keeps the venv)"
	@echo "make distclean     clean, and remove the venv too"

# The venv is updated whenever a requirements file or pyproject.toml changes.
# torch>=2.13,<2.14 in requirements.txt resolves to the local CPU wheel.
# demo needs only the runtime requirements; test adds the dev ones (transformers, pytest, nbval, ...).
$(RUNTIME): requirements.txt pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q -r requirements.txt
	$(PYTHON) -m pip install -q -e . --no-deps
	touch $@

$(STAMP): $(RUNTIME) requirements-dev.txt
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(STAMP)

demo: $(RUNTIME)
	$(PYTHON) -m w2v_lite explain

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)

# nbval runs twice: the second time on ATen's non-vectorised kernels, a stand-in for another CPU
test: lint
	$(PYTHON) -m pytest tests --ignore=tests/browser
ifneq ($(NOTEBOOKS),)
	$(PYTHON) -m pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg notebooks/
	ATEN_CPU_CAPABILITY=default $(PYTHON) -m pytest --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg notebooks/
endif

notebooks: $(STAMP)
	$(PYTHON) scripts/make_notebooks.py $(NOTEBOOKS)

figures: $(STAMP)
	$(PYTHON) -m w2v_lite figures --out figures

bench: $(STAMP)
	$(PYTHON) benchmarks/forward.py

test-browser: $(STAMP)
	$(PYTHON) -m pytest tests/browser -q

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
