# Two commands matter: `make demo` and `make test`. Both create .venv when missing,
# install adu-fw (with its compiled core) and its test extras into it, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.adu-fw-installed
SOURCES := $(wildcard src/adu_fw/*.py src/adu_fw/*.pyx src/adu_fw/*.pyi src/adu_fw/*/*.py) \
           $(wildcard data/servicetags/*) pyproject.toml setup.py
PYTEST_ARGS ?=

.PHONY: demo test bench venv install clean

demo: $(STAMP)
	$(PY) -m adu_fw.demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PIP) install --quiet "pytricia>=1.3" "py-radix>=1.0" "orjson>=3"
	$(PY) -m pytest bench --benchmark-enable --benchmark-only -p no:cacheprovider
	$(PY) bench/compare.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Build requirements go into the venv first so the package builds without isolation
# (faster, and the same compiler flags every time).
$(VENV)/.deps: $(VENV)/bin/python pyproject.toml
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "setuptools>=64" wheel "Cython>=3.1" "numpy>=2" "pyarrow>=14" "netaddr>=1.0" \
		"pytest>=8" "hypothesis>=6.100" "pytest-benchmark>=4"
	touch $@

$(STAMP): $(VENV)/.deps $(SOURCES)
	$(PIP) install --quiet --no-build-isolation ".[test]"
	touch $@

venv install: $(STAMP)

clean:
	rm -rf build dist src/*.egg-info src/adu_fw/*.c src/adu_fw/*.so $(VENV)
