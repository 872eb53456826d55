"""int8's dynamic recipe smooths the inputs of the MLP down projections (`optimize/smooth.py`): the fold is exact in
float, it is found in every gated MLP and in no other, and it is what keeps an outlier channel from coarsening the
dynamically quantized down projection."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from tiny_models import FAMILIES, NEW_FAMILIES

from prefixdeploy.exporter.decoder import build_decoder
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.exporter.optimize.calibrate import empty_cache_feeds
from prefixdeploy.exporter.optimize.dynamic import dynamic_matmuls
from prefixdeploy.exporter.optimize.edit import GraphEdit
from prefixdeploy.exporter.optimize.passes import LM_HEAD_WEIGHT, untie_lm_head
from prefixdeploy.exporter.optimize.precision import INT4, INT8, quantize_weights
from prefixdeploy.exporter.optimize.smooth import (
    dynamic_weights,
    foldable_downs,
    norm_fed,
    scale_up_blocks,
    smoothing_of,
)
from prefixdeploy.models.load import load_model
from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

IDS = [5, 17, 3, 42, 8, 23, 11, 30, 2, 7]
DOWN_NAME = ".mlp.down.weight"


def portable_graph(tiny_model_dir, kind: str) -> onnx.ModelProto:
    loaded = load_model(str(tiny_model_dir(kind)))
    return build_decoder(loaded.arch, loaded.rope(), None, opset=17)


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], output: str) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([output], feeds)[0]


def copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def smoothed_float(model: onnx.ModelProto, smoothing) -> onnx.ModelProto:
    """`model` with `smoothing` applied to its float weights and norms, its lm_head untied as the ONNX Runtime graph
    has it (the lm_head's scales are keyed by that weight); nothing quantized."""
    out = copy(model)
    untie_lm_head(GraphEdit(out))
    smoothing.fold_norms(out)
    for tensor in out.graph.initializer:
        if tensor.name in smoothing.rows or tensor.name in smoothing.up:
            tensor.CopyFrom(
                numpy_helper.from_array(smoothing.apply(tensor.name, numpy_helper.to_array(tensor)), tensor.name)
            )
    return out


@pytest.mark.parametrize("kind", FAMILIES + NEW_FAMILIES)
def test_the_folds_leave_the_float_graph_unchanged(tiny_model_dir, kind):
    """Every layer's qkv and gate_up (after their norms) and the lm_head are smoothed, and the down projection after
    a gated MLP: GPT-2's gelu MLP has none to fold into."""
    portable = portable_graph(tiny_model_dir, kind)
    feeds = empty_cache_feeds(portable, IDS)
    smoothing = smoothing_of(portable, feeds)
    layers = sum(DOWN_NAME in t.name for t in portable.graph.initializer) or 2  # GPT-2: fc_out, 2 layers
    downs = {w for w in smoothing.rows if DOWN_NAME in w}
    assert len(downs) == len(smoothing.up) == (0 if kind == "gpt2" else layers)
    normed = {w for w in smoothing.rows if DOWN_NAME not in w}
    assert len(normed) == 2 * layers + 1 and LM_HEAD_WEIGHT in normed, sorted(normed)  # qkv, gate_up; lm_head
    assert len(smoothing.norms) == len(normed) * (2 if kind == "gpt2" else 1)  # LayerNorm: scale and bias
    assert all(np.isfinite(s).all() and (s > 0).all() for s in smoothing.rows.values())
    assert any(not np.allclose(s, 1) for s in smoothing.rows.values())  # it does scale
    expected = run(portable, feeds, io_names.LOGITS)
    got = run(smoothed_float(portable, smoothing), feeds, io_names.LOGITS)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_a_gelu_mlp_has_no_down_projection_to_fold(tiny_model_dir):
    """GPT-2's fc_out reads gelu(fc_in(x)), not linear in any projection: no scale can fold there."""
    edit = GraphEdit(portable_graph(tiny_model_dir, "gpt2"))
    assert foldable_downs(edit) == {} and len(norm_fed(edit)) == 2 * 2 + 1


def test_no_calibration_tokens_is_refused(tiny_model_dir):
    with pytest.raises(ValueError, match="no tokens"):
        empty_cache_feeds(portable_graph(tiny_model_dir, "llama"), [])


def swiglu_mlp(hidden: int, inner: int, outlier: float) -> onnx.ModelProto:
    """x (1, T, hidden) → down(silu(gate(x)) · up(x)) with the decoder builder's weight names and one outlier
    channel of the down projection's input (up's column 3 × `outlier`, down's row 3 ÷ `outlier`: the same function)."""
    rng = np.random.default_rng(0)
    gate_up = rng.normal(0, 0.1, (hidden, 2 * inner)).astype(np.float32)
    down = rng.normal(0, 0.1, (inner, hidden)).astype(np.float32)
    gate_up[:, inner + 3] *= outlier
    down[3] /= outlier
    nodes = [
        helper.make_node("MatMul", ["x", "layers.0.mlp.gate_up.weight"], ["gu"], "gate_up"),
        helper.make_node("Split", ["gu", "halves"], ["gate", "up"], "split", axis=-1),
        helper.make_node("Sigmoid", ["gate"], ["sig"], "sigmoid"),
        helper.make_node("Mul", ["gate", "sig"], ["silu"], "silu"),
        helper.make_node("Mul", ["silu", "up"], ["h"], "mul"),
        helper.make_node("MatMul", ["h", "layers.0.mlp.down.weight"], ["y"], "down"),
    ]
    weights = [
        numpy_helper.from_array(gate_up, "layers.0.mlp.gate_up.weight"),
        numpy_helper.from_array(down, "layers.0.mlp.down.weight"),
        numpy_helper.from_array(np.array([inner, inner], np.int64), "halves"),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T", hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "T", hidden])],
        weights,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def test_smoothing_keeps_an_outlier_channel_from_coarsening_the_dynamic_down_projection():
    """Unsmoothed, the outlier sets the one activation scale of the call and the other channels round to a few
    levels; smoothed, the dynamic down projection is several times nearer the float result."""
    mlp = swiglu_mlp(hidden=64, inner=128, outlier=300.0)
    feeds = {"x": np.random.default_rng(1).normal(0, 1, (1, 16, 64)).astype(np.float32)}
    expected = run(mlp, feeds, "y")
    smoothing = smoothing_of(mlp, feeds)
    smoothed = dynamic_weights(quantize_weights(copy(mlp), INT8["dynamic"]), smoothing)  # both edit the model in place
    unsmoothed = dynamic_matmuls(quantize_weights(copy(mlp), INT8["dynamic"]), keep=lambda name: False)
    kinds = {n.op_type for n in smoothed.graph.node if "MatMul" in n.op_type}
    assert kinds == {"DynamicQuantizeMatMul"}
    error = {
        name: np.abs(run(m, feeds, "y") - expected).max() for name, m in [("smoothed", smoothed), ("not", unsmoothed)]
    }
    assert error["smoothed"] * 4 < error["not"], error


def test_a_4_bit_gate_up_takes_its_up_scales_in_its_block_scales_exactly():
    """int4's mixed-dynamic: the down projection goes dynamic and smoothed, the gate_up stays in 4-bit blocks; its up
    half's columns ÷ s through their blocks' scales, so its codes (and a GGUF source's exact grid) stay as they were
    and the gate_up node's output is the unscaled one with up's columns ÷ s."""
    mlp = swiglu_mlp(hidden=64, inner=128, outlier=300.0)
    feeds = {"x": np.random.default_rng(1).normal(0, 1, (1, 16, 64)).astype(np.float32)}
    recipe = INT4["mixed-dynamic"]
    smoothing = smoothing_of(mlp, feeds, recipe.is_dynamic)
    assert set(smoothing.rows) == {"layers.0.mlp.down.weight"} and set(smoothing.up) == {"layers.0.mlp.gate_up.weight"}
    before = quantize_weights(copy(mlp), recipe)
    codes = {t.name: numpy_helper.to_array(t) for t in before.graph.initializer if t.name.endswith("_Q")}
    after = copy(before)
    scale_up_blocks(after, smoothing.up)
    kept = {t.name: numpy_helper.to_array(t) for t in after.graph.initializer if t.name in codes}
    assert kept.keys() == codes.keys() and all(np.array_equal(kept[n], codes[n]) for n in codes)
    for model in (before, after):
        model.graph.output.append(helper.make_tensor_value_info("gu", TensorProto.FLOAT, None))
    unscaled, scaled = (run(m, feeds, "gu") for m in (before, after))
    s = smoothing.up["layers.0.mlp.gate_up.weight"]
    np.testing.assert_array_equal(scaled[..., :128], unscaled[..., :128])  # gate untouched
    np.testing.assert_allclose(scaled[..., 128:], unscaled[..., 128:] / s, rtol=1e-5, atol=1e-6)


def test_mixed_dynamic_smooths_the_down_projection_it_makes_dynamic():
    """The same outlier MLP at int4's mixed-dynamic: the smoothed dynamic down projection is several times nearer
    the float result than an unsmoothed one, as at int8."""
    mlp = swiglu_mlp(hidden=64, inner=128, outlier=300.0)
    feeds = {"x": np.random.default_rng(1).normal(0, 1, (1, 16, 64)).astype(np.float32)}
    expected = run(mlp, feeds, "y")
    recipe = INT4["mixed-dynamic"]
    smoothing = smoothing_of(mlp, feeds, recipe.is_dynamic)
    smoothed = dynamic_weights(quantize_weights(copy(mlp), recipe), smoothing)
    unsmoothed = dynamic_matmuls(quantize_weights(copy(mlp), recipe), keep=lambda name: False)
    kinds = {n.input[1]: n.op_type for n in smoothed.graph.node if "MatMul" in n.op_type}
    assert sorted(kinds.values()) == ["DynamicQuantizeMatMul", "MatMulNBits"], kinds
    error = {
        name: np.abs(run(m, feeds, "y") - expected).max() for name, m in [("smoothed", smoothed), ("not", unsmoothed)]
    }
    assert error["smoothed"] * 3 < error["not"], error


@pytest.mark.parametrize("kind", ["gpt2", "gemma2", "qwen3"])
def test_a_smoothed_dynamic_int8_bundle_carries_each_rows_prefix(kind, tiny_model_dir, peft_adapter, tmp_path):
    """End to end through export: LayerNorm's scale and bias (GPT-2), Gemma's norms and GeGLU, Qwen3's q/k norms;
    each row's first logits stay near the fp32 graph's for its prefix, far nearer than to the other prefix's."""
    specs = (f"short={peft_adapter(kind, 5, seed=1, name='short')}", f"long={peft_adapter(kind, 9, True, 2, 'long')}")
    config = ExportConfig(str(tiny_model_dir(kind)), specs, tmp_path / "b", precisions=("fp32", "int8"))
    path = export_bundle(replace(config, int8_recipe="dynamic"))
    greedy = GenerationConfig(max_new_tokens=1, ignore_eos=True)
    logits = {}
    for precision in ("fp32", "int8"):
        with load_bundle(path, precision=precision) as bundle:
            for name in ("short", "long"):
                step = next(iter(bundle.steps([bundle.encode("the quick brown fox")], [name], greedy)))
                logits[precision, name] = step.logits[0]  # (V,)
    gap = np.abs(logits["fp32", "short"] - logits["fp32", "long"]).max()
    for name in ("short", "long"):
        assert np.abs(logits["int8", name] - logits["fp32", name]).max() < 0.2 * gap, name  # test_precision's bound
