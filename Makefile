# `make demo` and `make test` each work on a fresh clone: they create (or refresh, when
# pyproject.toml changed) the virtual environment in .venv, install the package, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench figures clean

$(STAMP): pyproject.toml examples/plugin-template/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' -e examples/plugin-template
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/compare_initializers.py --plot compare_initializers.png

# One BLAS thread: the tests' matrices are small, and BLAS threads fighting over 2 cores
# made a QR take a second instead of a millisecond.
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest

# Rewrite the figure blocks of the docs from the output of their commands (docs/figures.py).
figures: $(STAMP)
	$(PY) docs/figures.py

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
