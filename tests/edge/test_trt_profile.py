"""ONNX Runtime runs of the portable graph at the corners of the TensorRT profile the backend would build.

TensorRT checks every corner of a profile (all mins, all opts, all maxes) as a shape of its own; here ONNX Runtime
runs the graph a bundle's TrtBackend would get, at each corner of `TrtConfig.ranges()` for the options `load_bundle`
gives it: every output is finite and has the shape the profile implies.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from prefixdeploy.runtime import manifest as names
from prefixdeploy.runtime.backends.trt import BATCH, PAST, SEQUENCE, TrtConfig, bundle_options, tensor_axes
from prefixdeploy.runtime.manifest import read_manifest

CORNERS = {"min": 0, "opt": 1, "max": 2}
DTYPES = {"tensor(int64)": np.int64, "tensor(float)": np.float32}


def _feeds(session: ort.InferenceSession, sizes: dict[str, int], max_position: int, bank: int) -> dict:
    """Inputs at one corner: axes from the profile, fixed dims from the graph, values a decoder could see."""
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in session.get_inputs():
        axes = tensor_axes(spec.name, len(spec.shape))
        shape = tuple(sizes[a] if a else d for a, d in zip(axes, spec.shape))
        if spec.name == names.INPUT_IDS:
            feeds[spec.name] = rng.integers(0, 100, shape, dtype=np.int64)  # (B, T)
        elif spec.name == names.ATTENTION_MASK:
            feeds[spec.name] = np.ones(shape, np.int64)  # (B, S)
        elif spec.name == names.POSITION_IDS:  # (B, T) positions after the past, within the model's table
            steps = np.arange(sizes[PAST], sizes[PAST] + sizes[SEQUENCE]) % max_position
            feeds[spec.name] = np.broadcast_to(steps, shape).astype(np.int64)
        elif spec.name == names.PREFIX_IDS:
            feeds[spec.name] = np.arange(shape[0], dtype=np.int64) % bank  # (B,)
        else:  # past keys/values (B, H_kv, S - T, D)
            feeds[spec.name] = rng.standard_normal(shape).astype(DTYPES[spec.type])
    return feeds


@pytest.fixture(scope="module")
def gpt2_bundle(tiny_model_dir, peft_adapter, tmp_path_factory):
    """gpt2_bundle(mode) -> a tiny GPT-2 bundle (learned positions: the strictest about position values)."""
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    made = {}

    def get(mode: str):
        if mode not in made:
            specs = (f"summ={peft_adapter('gpt2', 5, seed=1)}", f"qa={peft_adapter('gpt2', 8, seed=2)}")
            out = tmp_path_factory.mktemp(f"profile-{mode}") / "bundle"
            prefixes = specs[:1] if mode == "baked" else specs
            kind = "switchable" if mode == "switchable" else "baked"
            made[mode] = export_bundle(
                ExportConfig(str(tiny_model_dir("gpt2")), prefixes, out, mode=kind, precisions=())
            )
        return made[mode]

    return get


@pytest.mark.parametrize("corner", CORNERS)
@pytest.mark.parametrize("mode", ["switchable", "baked", "bank"])
def test_portable_graph_runs_at_each_corner_of_the_profile(gpt2_bundle, mode, corner):
    path = gpt2_bundle(mode)
    manifest = read_manifest(path)
    config = TrtConfig(**bundle_options({}, manifest.max_context))  # what load_bundle(backend="trt") builds
    sizes = {axis: bounds[CORNERS[corner]] for axis, bounds in config.ranges().items()}
    longest_prefix = max(p.num_virtual_tokens for p in manifest.prefixes)
    session = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = _feeds(session, sizes, manifest.max_context - longest_prefix, len(manifest.prefixes))
    outputs = session.run(None, feeds)
    for spec, value in zip(session.get_outputs(), outputs):
        axes = tensor_axes(spec.name, len(spec.shape))
        assert value.shape == tuple(sizes[a] if a else d for a, d in zip(axes, spec.shape)), spec.name
        assert np.isfinite(value).all(), spec.name
    assert sizes[BATCH] == (config.max_batch if corner == "max" else 1)
