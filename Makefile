# ftl-tff: `make demo` and `make test` work on a fresh machine that has only
# python3 and pip. uv is bootstrapped into .tools/ when it is not on PATH,
# and the locked environment (uv.lock) is installed into .venv/.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
STAMP := $(VENV)/.ftl-tff-synced
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: install demo test test-all lint bench docs clean

install: $(STAMP)

.tools/bin/uv:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ftl-tff demo

test: $(STAMP) docs
	$(PY) -m pytest -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check ftl_tff cli tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/ingest.py

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .tools build dist *.egg-info .pytest_cache ftl-demo-results
