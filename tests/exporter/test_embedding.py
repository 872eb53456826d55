"""The quantized embedding lookup: GatherBlockQuantized over the tied lm_head's MatMulNBits blocks."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from prefixdeploy.exporter.optimize.edit import GraphEdit
from prefixdeploy.exporter.optimize.embedding import quantize_embedding_lookup, separate_lookup_table
from prefixdeploy.exporter.optimize.nbits import quantize_blocks, quantize_matmuls
from prefixdeploy.exporter.optimize.passes import untie_lm_head
from prefixdeploy.exporter.optimize.save import save_optimized

V = 50  # vocab rows


def tied_model(table: np.ndarray) -> onnx.ModelProto:
    """ids (B, T) → hidden = E[ids] (an output) and logits = hidden · Eᵀ (a Gemm over the table, as the builder's)."""
    vocab, hidden = table.shape
    nodes = [
        helper.make_node("Gather", ["E", "ids"], ["h"], "embed"),
        helper.make_node("Identity", ["h"], ["hidden"]),
        helper.make_node("Reshape", ["h", "flat"], ["h2"]),
        helper.make_node("Gemm", ["h2", "E"], ["scores"], "lm_head", transB=1),
        helper.make_node("Identity", ["scores"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tied",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, None])],
        [
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [1, None, hidden]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, vocab]),
        ],
        [numpy_helper.from_array(table, "E"), numpy_helper.from_array(np.array([-1, hidden], np.int64), "flat")],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )


def quantized(table: np.ndarray, bits: int) -> onnx.ModelProto:
    model = tied_model(table)
    edit = GraphEdit(model)
    tied = untie_lm_head(edit)
    edit.prune()
    model = quantize_matmuls(model, lambda name: bits, block=32, accuracy_level=4)
    edit = GraphEdit(model)
    assert quantize_embedding_lookup(edit, *tied)
    edit.prune()
    return model


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("hidden", [64, 48])  # 48: each row padded to two blocks of 32
def test_lookup_returns_the_rows_the_lm_head_multiplies_by(bits, hidden):
    table = np.random.default_rng(bits + hidden).standard_normal((V, hidden)).astype(np.float32)
    model = quantized(table, bits)
    ops = [n.op_type for n in model.graph.node]
    assert "Gather" not in ops and "GatherBlockQuantized" in ops
    assert "E" not in {t.name for t in model.graph.initializer}  # the float table is gone
    blocks = quantize_blocks(table.T.copy(), bits, 32)  # the lm_head's blocks of Eᵀ: (V, n_blocks, 32)
    rows = (blocks.scales[..., None] * (blocks.codes.astype(np.float32) - blocks.zero_points[..., None])).reshape(V, -1)
    ids = np.array([[0, 7, 49, 7]], np.int64)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (hidden_out,) = session.run(["hidden"], {"ids": ids})
    np.testing.assert_allclose(hidden_out[0], rows[ids[0], :hidden], rtol=0, atol=1e-6)


def test_lookup_and_lm_head_blocks_are_stored_once(tmp_path):
    vocab = 200  # scales of 200 × 2 blocks: 1.6 kB, large enough to be stored outside the .onnx file
    table = np.random.default_rng(0).standard_normal((vocab, 64)).astype(np.float32)
    model = quantized(table, 8)
    portable = tmp_path / "portable.onnx"
    onnx.save_model(tied_model(table), str(portable), save_as_external_data=True, location="portable.onnx.data")
    save_optimized(model, tmp_path / "ort.onnx", tmp_path / "portable.onnx.data")
    saved = onnx.load_model(str(tmp_path / "ort.onnx"), load_external_data=False)
    at = {}
    for t in saved.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            at[t.name] = (info["location"], info.get("offset", "0"))
    assert at["E_Q"] == at["lm_head.weight_t_Q"] and at["E_scales"] == at["lm_head.weight_t_scales"]
    assert (tmp_path / "ort.onnx.data").stat().st_size < 2 * vocab * 64  # codes once (+ scales): not twice


def test_a_float_lookup_reads_its_own_name_for_the_same_stored_bytes(tmp_path):
    table = np.random.default_rng(1).standard_normal((V, 64)).astype(np.float32)
    model = tied_model(table)
    edit = GraphEdit(model)
    assert separate_lookup_table(edit)
    assert edit.node_reading("E.lookup", "Gather") is not None and edit.node_reading("E", "Gemm") is not None
    onnx.save_model(tied_model(table), str(tmp_path / "p.onnx"), save_as_external_data=True, location="p.onnx.data")
    save_optimized(model, tmp_path / "ort.onnx", tmp_path / "p.onnx.data")
    saved = onnx.load_model(str(tmp_path / "ort.onnx"), load_external_data=False)
    at = {t.name: [(e.key, e.value) for e in t.external_data] for t in saved.graph.initializer}
    assert at["E.lookup"] == at["E"] and dict(at["E"])["location"] == "p.onnx.data"  # stored once, in the portable
    ids = np.array([[3, 0, 49]], np.int64)
    session = ort.InferenceSession(str(tmp_path / "ort.onnx"), providers=["CPUExecutionProvider"])
    hidden, logits = session.run(["hidden", "logits"], {"ids": ids})
    np.testing.assert_array_equal(hidden[0], table[ids[0]])
    np.testing.assert_allclose(logits, table[ids[0]] @ table.T, rtol=1e-5, atol=1e-5)
