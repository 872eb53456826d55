"""The ONNX Runtime variant's structure: residual Add + RMS norm fused, and the bound logits buffer safe to reuse."""

from __future__ import annotations

import numpy as np
import onnx

from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig


def op_counts(path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in onnx.load_model(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def test_residual_add_and_norm_are_one_kernel(tiny_bundle):
    graph = onnx.load_model(str(tiny_bundle("switchable") / "model.ort.fp32.onnx"), load_external_data=False).graph
    made_by = {out: n for n in graph.node for out in n.output}
    norms = [n for n in graph.node if n.op_type == "SimplifiedLayerNormalization"]
    assert not [n for n in norms if made_by.get(n.input[0]) and made_by[n.input[0]].op_type == "Add"]
    L = 2  # tiny llama: every norm but the first (it reads the embedding) follows a residual Add
    assert op_counts(tiny_bundle("switchable") / "model.ort.fp32.onnx")["SkipSimplifiedLayerNormalization"] == 2 * L


def test_gpt2_layer_norms_are_left_to_onnx_runtime(tiny_bundle):
    counts = op_counts(tiny_bundle("switchable", "gpt2") / "model.ort.fp32.onnx")
    assert "SimplifiedLayerNormalization" not in counts and "SkipSimplifiedLayerNormalization" not in counts


def test_logits_returned_by_a_step_do_not_change_on_the_next(tiny_bundle):
    """The logits output is bound to one reused buffer: each step must hand out its own copy."""
    with load_bundle(tiny_bundle("switchable")) as bundle:
        steps = bundle.steps([bundle.encode("the cat sat on the")], ["qa"], GenerationConfig(8, ignore_eos=True))
        kept = [(s.logits, s.logits.copy()) for s in steps]
    assert all(np.array_equal(a, b) for a, b in kept)
    assert not np.array_equal(kept[1][0], kept[2][0])
