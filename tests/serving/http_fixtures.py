"""HTTP serving fixtures (a pytest plugin loaded by tests/conftest.py, not a conftest.py here, so that the `serve`
tests in tests/cli/ get them too): a tiny switchable bundle served by one server process per test module (with a key
and a runtime prefix directory), and in-process greedy references computed the way `prefixdeploy run` computes them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/serving/server_process.py

from server_process import running_server  # noqa: E402

from prefixdeploy.runtime.bundle import load_bundle  # noqa: E402
from prefixdeploy.runtime.generate import GenerationConfig  # noqa: E402


@pytest.fixture(scope="session")
def served_bundle(tiny_bundle) -> Path:
    return tiny_bundle("switchable")


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runtime-prefixes")


@pytest.fixture(scope="module")
def server(served_bundle, runtime_dir):
    """One server per test module: key required, runtime prefixes from `runtime_dir`, small limits."""
    args = ("--allow-runtime-prefixes", str(runtime_dir), "--max-tokens-limit", "256", "--max-num-seqs", "8")
    with running_server(served_bundle, *args) as process:
        yield process


@pytest.fixture(scope="session")
def reference(served_bundle):
    """reference(prompt_ids, prefix, max_tokens) -> the greedy token ids `prefixdeploy run` would print."""
    bundle = load_bundle(served_bundle)
    cache: dict[tuple, list[int]] = {}

    def get(prompt_ids: list[int], prefix: str | None, max_tokens: int) -> list[int]:
        key = (tuple(prompt_ids), prefix, max_tokens)
        if key not in cache:
            config = GenerationConfig(max_new_tokens=max_tokens, temperature=0.0)
            cache[key] = bundle.generate_ids([list(prompt_ids)], [prefix], config)[0]
        return cache[key]

    get.bundle = bundle
    yield get
    bundle.close()
