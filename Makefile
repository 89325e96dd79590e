# Quick start: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv and install the package (with its dev extra) when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-fast bench clean

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m nasnet_search.demo

# Two processes (pytest-xdist), one test file each at a time: both cores, and smaller heaps.
test: $(STAMP)
	$(PY) -m pytest -q -ra -n 2 --dist loadfile tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -n 2 --dist loadfile -m "not slow" tests

bench: $(STAMP)
	$(PY) benchmarks/inference.py

clean:
	rm -rf $(VENV) build *.egg-info
