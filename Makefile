# w2v_lite developer tasks (GNU make). `make test` works from a fresh clone: it builds .venv first.
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime-installed
STAMP   := $(VENV)/.installed

# Deterministic hashing for reproducible runs; thread count is left to torch/OpenMP defaults.
export PYTHONHASHSEED := 0

NOTEBOOKS  := $(wildcard notebooks/*.ipynb)
LINT_PATHS := $(wildcard w2v_lite tests scripts benchmarks)
NBVAL      := $(PYTHON) -m pytest -p no:cacheprovider --nbval --nbval-current-env \
              --nbval-sanitize-with notebooks/sanitize.cfg

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint typecheck pytest nbval notebooks figures bench test-browser \
        classroom student clean distclean

help:
	@echo "make demo          run 'python -m w2v_lite explain' on the embedded clip"
	@echo "make test          lint + types + every pytest test but the browser one + strict nbval (twice)"
	@echo "make test-fast     lint + pytest without the slow and browser tests (no nbval): under 2 minutes"
	@echo "make notebooks     re-execute notebooks/*.ipynb in place"
	@echo "make figures       regenerate figures (python -m w2v_lite figures)"
	@echo "make bench         run benchmarks/forward.py"
	@echo "make test-browser  widget and classroom-page tests in headless chromium (tests/browser)"
	@echo "make classroom     serve the classroom page on http://127.0.0.1:8866/ (PORT=... to change it)"
	@echo "make student       student edition: build/student/*.ipynb without outputs or worked solutions"
	@echo "make clean         remove caches and build outputs (keeps the venv)"
	@echo "make distclean     clean, and remove the venv too"

# The venv is updated whenever a requirements file or pyproject.toml changes. Versions live in pyproject.toml;
# requirements.txt installs `-e .[notebooks]` and requirements-dev.txt `-e .[dev,notebooks]`, both with the
# torch cap (torch>=2.13,<2.14 resolves to the local CPU wheel).
# demo needs only the runtime requirements; test adds the dev ones (transformers, pytest, nbval, mypy, ...).
$(RUNTIME): requirements.txt pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q -r requirements.txt
	touch $@

$(STAMP): $(RUNTIME) requirements-dev.txt
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(STAMP)

demo: $(RUNTIME)
	$(PYTHON) -m w2v_lite explain

# No `ruff format --check`: the code keeps its hand-wrapped layout (the formatter would rewrite 38 of 68
# files), so `ruff check` (rules in pyproject.toml: line length, imports, pytest and simplification rules)
# is the style gate.
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PYTHON) -m pytest -p no:cacheprovider tests -m "not browser"

# strict nbval twice: as this CPU computes, and with ATen's portable kernels (a stand-in for another CPU)
nbval: $(STAMP)
ifneq ($(NOTEBOOKS),)
	$(NBVAL) $(NOTEBOOKS)
	ATEN_CPU_CAPABILITY=default $(NBVAL) $(NOTEBOOKS)
endif

test: lint typecheck pytest nbval

test-fast: lint
	$(PYTHON) -m pytest -p no:cacheprovider tests -m "not slow and not browser"

notebooks: $(STAMP)
	$(PYTHON) scripts/make_notebooks.py $(NOTEBOOKS)

figures: $(STAMP)
	$(PYTHON) -m w2v_lite figures --out figures

bench: $(STAMP)
	$(PYTHON) benchmarks/forward.py

# the notebook-01 slider in JupyterLab, and the classroom page (load, upload, fake microphone, denied microphone)
test-browser: $(STAMP)
	$(PYTHON) -m pytest -p no:cacheprovider tests/browser -m browser

# same as `w2v-lite classroom`: Voila on 127.0.0.1 with the code hidden; NO_BROWSER=1 only prints the URL
PORT ?= 8866
classroom: $(RUNTIME)
	$(PYTHON) -m w2v_lite classroom --port $(PORT) $(if $(NO_BROWSER),--no-browser)

student: $(RUNTIME)
	$(PYTHON) scripts/make_student.py --out build/student

clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
