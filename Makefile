# jtransfer — the two entry points of README.md plus a few helpers.
# `make reproduce` and `make test` work on a fresh clone with only python3 (>= 3.11) and make.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# `make test` runs two pytest-xdist workers, one per core of the 2-core CI machine (idle here:
# 1196 tests in 687-765 s over three runs, against 976 s serially). `make test PYTEST_ARGS=`
# runs serially.
PYTEST_ARGS ?= -n 2

.PHONY: install reproduce reproduce-full test lint docs docs-clean peers clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "jtransfer needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

## The main job: the quick reproduction suite on embedded data; writes runs/<time>-quick/REPORT.md
reproduce: $(STAMP)
	$(PY) -m experiments.reproduce --suite quick --out runs

## Paper-scale suite (also reads the real benchmark files; see README "Real benchmark data")
reproduce-full: $(STAMP)
	$(PY) -m experiments.reproduce --suite full --out runs

## The test suite (what CI runs)
## pytest's exit 5 ("no tests collected") counts as a failure.
test: $(STAMP)
	@$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(PY) -m ruff check jtransfer experiments tests
	$(PY) -m ruff format --check jtransfer experiments tests

## The documentation site -> docs/_build/html/index.html (warnings are errors; the notebooks
## are executed on the first build and cached in docs/_build/.jupyter_cache, re-run when changed)
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

docs-clean:
	rm -rf docs/_build docs/api docs/notebooks docs/reproductions

## Optional peer libraries for the benchmarks (PyTorch peers + ADAPT; ~9 GB, never used by tests)
peers:
	bash scripts/setup_peers.sh

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build dist
