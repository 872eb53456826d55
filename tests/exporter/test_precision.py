"""Every weight precision of the ONNX Runtime graph works in both prefix modes and in mixed-prefix batches.

Quantized graphs cannot match the reference to 1e-4; what must hold is that they carry each row's own prefix: a
row's logits are near the fp32 graph's logits for that prefix, far nearer than to another prefix's, and a mixed
batch gives every row what that row gives alone. Their quality on the real model is measured by `prefixdeploy
verify` (README).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from prefixdeploy.cli import main
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.manifest import read_manifest

PRECISIONS = ("fp32", "fp16", "int8", "int4")
PROMPTS = ["hello world, this is a test of the", "the cat sat on"]
GREEDY = GenerationConfig(max_new_tokens=6, ignore_eos=True)
# Error against fp32, as a fraction of the distance between two prefixes' logits. Random tiny weights are the worst
# case for 4 bits (no structure; measured at most: fp16 0.005, int8 0.03, int4 0.23-0.53 of the gap).
BOUND = {"fp16": 0.02, "int8": 0.2, "int4": 0.8}


@pytest.fixture(scope="module")
def bundles(tiny_model_dir, peft_adapter, tmp_path_factory):
    model = str(tiny_model_dir("llama"))
    specs = (f"short={peft_adapter('llama', 5, seed=1)}", f"long={peft_adapter('llama', 9, True, 2)}")
    out = tmp_path_factory.mktemp("precision")
    return {
        mode: export_bundle(ExportConfig(model, specs, out / mode, mode=mode, precisions=PRECISIONS))
        for mode in ("switchable", "baked")
    }


def first_logits(bundle, prompt: str, prefix: str) -> np.ndarray:
    step = next(iter(bundle.steps([bundle.encode(prompt)], [prefix], GREEDY)))
    return step.logits[0]


@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_graphs_are_listed_fastest_first_with_the_portable_graph_last(bundles, mode):
    with load_bundle(bundles[mode]) as bundle:
        graphs = [(g.precision, g.kind) for g in bundle.manifest.graphs]
        assert bundle.graph.precision == "fp32" and bundle.graph.kind == "ort"
    assert graphs == [(p, "ort") for p in PRECISIONS] + [("fp32", "portable")]


@pytest.mark.parametrize("mode", ["switchable", "baked"])
@pytest.mark.parametrize("precision", PRECISIONS[1:])
def test_each_precision_carries_each_rows_prefix(bundles, mode, precision):
    with load_bundle(bundles[mode], precision="fp32") as fp32:
        reference = {(n, p): first_logits(fp32, p, n) for n in ("short", "long") for p in PROMPTS}
    with load_bundle(bundles[mode], precision=precision) as bundle:
        assert bundle.graph.precision == precision
        for (name, prompt), expected in reference.items():
            got = first_logits(bundle, prompt, name)
            other = reference["long" if name == "short" else "short", prompt]
            error, gap = np.abs(got - expected).max(), np.abs(other - expected).max()
            assert error < BOUND[precision] * gap, (name, prompt, error, gap)


@pytest.mark.parametrize("mode", ["switchable", "baked"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_mixed_prefix_batch_equals_rows_alone(bundles, mode, precision):
    rows = [("short", PROMPTS[0]), ("long", PROMPTS[1]), ("long", PROMPTS[0]), ("short", PROMPTS[1])]
    with load_bundle(bundles[mode], precision=precision) as bundle:
        alone = [bundle.generate_ids([bundle.encode(p)], [n], GREEDY)[0] for n, p in rows]
        together = bundle.generate_ids([bundle.encode(p) for _, p in rows], [n for n, _ in rows], GREEDY)
    assert together == alone


def test_run_picks_the_graph_by_precision(bundles):
    args = ["run", str(bundles["switchable"]), "--prefix", "long", "--max-new-tokens", "6", "--ignore-eos", "--json"]
    with load_bundle(bundles["switchable"], precision="int4") as bundle:
        expected = bundle.generate_ids([bundle.encode(PROMPTS[0])], ["long"], GREEDY)[0]
    result = CliRunner().invoke(main, [*args, "--precision", "int4", PROMPTS[0]])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["token_ids"] == expected


@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_the_fp16_graph_keeps_its_cache_in_float16_read_and_written_in_place(bundles, mode):
    """GroupQueryAttention takes each past straight from the graph's inputs and writes the graph's outputs, so it
    updates the runtime's one float16 buffer in place: a Cast on either side would copy the whole cache every step."""
    entry = next(g for g in read_manifest(bundles[mode]).graphs if g.precision == "fp16")
    graph = onnx.load(str(bundles[mode] / entry.file), load_external_data=False).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]}
    kv = [name for name in types if name.startswith(("past_key_values.", "present."))]
    assert kv and all(types[name] == onnx.TensorProto.FLOAT16 for name in kv)
    assert types[io_names.LOGITS] == onnx.TensorProto.FLOAT  # for the sampler, as every graph's
    attention = [node for node in graph.node if node.op_type == "GroupQueryAttention"]
    assert attention and all(set(node.input[3:5]) | set(node.output[1:3]) <= set(kv) for node in attention)
