# Two commands matter: `make demo` and `make test`. Both create .venv when missing,
# install adu-fw (with its compiled core) and its test extras into it, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.adu-fw-installed
SOURCES := $(wildcard src/adu_fw/*.py src/adu_fw/*.pyx src/adu_fw/*.pyi src/adu_fw/*.h src/adu_fw/*/*.py) \
           $(wildcard data/servicetags/*) pyproject.toml setup.py
PYTEST_ARGS ?=

.PHONY: demo test bench fuzz sanitize venv install clean

demo: $(STAMP)
	$(PY) -m adu_fw.demo

test: $(STAMP) $(VENV)/.spark
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PIP) install --quiet "pytricia>=1.3" "py-radix>=1.0" "orjson>=3"
	$(PY) -m pytest bench --benchmark-enable --benchmark-only -p no:cacheprovider
	$(PY) bench/compare.py

# Coverage-guided fuzzing (atheris) of every reader for FUZZ_SECONDS in all, then the structured
# hypothesis mutations with many more examples; crashing inputs land in tests/fuzz/corpus/.
FUZZ_SECONDS ?= 240
fuzz: $(STAMP)
	$(PIP) install --quiet "atheris>=2.3"
	$(PY) tests/fuzz/run.py --budget $(FUZZ_SECONDS)
	ADU_FW_FUZZ_EXAMPLES=1000 $(PY) -m pytest -q -p no:cacheprovider tests/test_hostile_input.py

# The compiled modules built once with AddressSanitizer + UBSan in their own venv, then the tests.
SAN_VENV := .venv-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g
sanitize:
	test -x $(SAN_VENV)/bin/python || $(PYTHON) -m venv $(SAN_VENV)
	$(SAN_VENV)/bin/python -m pip install --quiet "setuptools>=64" wheel "Cython>=3.1" "numpy>=2" "pyarrow>=14" \
		"netaddr>=1.0" "platformdirs>=3" "pytest>=8" "hypothesis>=6.100" "pytest-benchmark>=4"
	rm -rf build-san
	ADU_FW_NO_OPENMP=1 ADU_FW_EXTRA_CFLAGS="$(SAN_FLAGS)" ADU_FW_EXTRA_LDFLAGS="-fsanitize=address,undefined" \
		$(SAN_VENV)/bin/python -m pip install --quiet --no-cache-dir --no-build-isolation --force-reinstall --no-deps .
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(SAN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Build requirements go into the venv first so the package builds without isolation
# (faster, and the same compiler flags every time).
$(VENV)/.deps: $(VENV)/bin/python pyproject.toml
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "setuptools>=64" wheel "Cython>=3.1" "numpy>=2" "pyarrow>=14" "netaddr>=1.0" \
		"pytest>=8" "hypothesis>=6.100" "pytest-benchmark>=4"
	touch $@

# Spark tests run for real on local[2]: pyspark from PyPI, and a Java runtime (installed with
# apt-get when the machine has none; root on these machines).
$(VENV)/.spark: $(VENV)/.deps
	@command -v java >/dev/null 2>&1 || { echo "no java: installing a headless JRE"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless) >/dev/null; }
	$(PIP) install --quiet "pyspark>=3.5" "pandas>=2.2,<3"
	touch $@

$(STAMP): $(VENV)/.deps $(SOURCES)
	rm -rf build
	$(PIP) install --quiet --no-build-isolation ".[test]"
	touch $@

venv install: $(STAMP)

clean:
	rm -rf build build-san dist src/*.egg-info src/adu_fw/*.c src/adu_fw/*.so $(VENV) $(SAN_VENV)
