# Everything a fresh machine with python3, make and git needs: `make demo`, `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, from the exact release (a bare range would fetch a multi-GB CUDA build).
	$(PY) -m pip install -q torch==2.13.0
	# dev brings Playwright without a browser: tests/serve/test_pages.py drives /usr/bin/chromium
	# (Debian's chromium package; .ci/run installs it). Never `playwright install`.
	$(PY) -m pip install -q -e '.[dev,trl,mlx,browse,voice,documents,ray]'
	touch $(STAMP)

.PHONY: install demo test lint bench
install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/samdata demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

test: lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/scan.py
	$(PY) bench/ingest.py
	$(PY) bench/export.py
