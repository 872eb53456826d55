# `make demo` and `make test` work on a fresh machine: they create .venv and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint format demo bench edge-check clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel; a bare `torch` can pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint
	$(PY) -m pytest -q -rs

demo: $(STAMP)
	$(PY) samples/demo.py

bench: $(STAMP)
	$(PY) benchmarks/compare.py

# Needs root, mmdebstrap and qemu-user-static; the arm64 root is cached in ~/.cache/prefixdeploy/edge.
edge-check: $(STAMP)
	$(PY) tools/edge/check.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache edge-out
