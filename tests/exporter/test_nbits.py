"""MatMulNBits weights written by `nbits`: ONNX Runtime reads them as we dequantize them, and GGUF grids stay exact."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from prefixdeploy.exporter.optimize.nbits import QuantizedBlocks, quantize_blocks, quantize_matmuls


def dequantize(blocks: QuantizedBlocks, k: int) -> np.ndarray:
    w = blocks.scales[..., None] * (blocks.codes.astype(np.float32) - blocks.zero_points[..., None])  # (N, nb, block)
    return w.reshape(w.shape[0], -1)[:, :k].T  # (K, N)


def q4_1_weight(rng, k: int, n: int) -> np.ndarray:
    """GGUF Q4_1 blocks of 32 along K: d·q + m, q in 0..15 with both ends used."""
    q = rng.integers(0, 16, (k // 32, 32, n))
    q[:, 0], q[:, 1] = 0, 15
    d = rng.uniform(0.001, 0.01, (k // 32, 1, n))
    m = -d * rng.uniform(2, 13, (k // 32, 1, n))
    return (d * q + m).reshape(k, n).astype(np.float32)


def q8_0_weight(rng, k: int, n: int) -> np.ndarray:
    """GGUF Q8_0 blocks of 32 along K: d·q, q in −127..127 with |q| = 127 reached."""
    q = rng.integers(-127, 128, (k // 32, 32, n))
    q[:, 0] = 127
    return (rng.uniform(0.001, 0.01, (k // 32, 1, n)) * q).reshape(k, n).astype(np.float32)


def test_symmetric_gguf_blocks_are_exact_at_8_bits():
    w = q8_0_weight(np.random.default_rng(0), 64, 8)
    np.testing.assert_allclose(dequantize(quantize_blocks(w, 8, 32), 64), w, atol=1e-7)


def test_16_level_gguf_blocks_beat_min_max_at_8_bits():
    w = q4_1_weight(np.random.default_rng(1), 256, 64)
    blocks = w.reshape(8, 32, 64)
    lo, hi = blocks.min(1, keepdims=True), blocks.max(1, keepdims=True)
    s = (hi - lo) / 255  # min–max: d/17, its zero point off by up to d/34
    min_max = s * np.round(blocks / s)  # s·(q − z) with q = round(w/s) + z
    min_max_error = np.square(min_max - blocks).sum(1)
    error = np.square(dequantize(quantize_blocks(w, 8, 32), 256).reshape(8, 32, 64) - blocks).sum(1)
    assert (error <= min_max_error * (1 + 1e-4) + 1e-12).all()
    assert error.mean() < 0.5 * min_max_error.mean()


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("k", [64, 40])  # 40: a last block padded with zeros
def test_onnx_runtime_computes_with_the_weights_we_dequantize(bits, k):
    rng = np.random.default_rng(bits + k)
    w = rng.standard_normal((k, 16)).astype(np.float32)
    x = rng.standard_normal((3, k)).astype(np.float32)
    node = helper.make_node("MatMul", ["x", "w"], ["y"], "mm")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 16])],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model = quantize_matmuls(model, lambda name: bits, block=32, accuracy_level=0)  # 0: float activations
    assert [n.op_type for n in model.graph.node] == ["MatMulNBits"]
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(y, x @ dequantize(quantize_blocks(w, bits, 32), k), atol=1e-4)


def test_a_weight_that_other_nodes_read_stays_float():
    """A tied embedding read by a Gather and a MatMul must keep its float initializer (and so its MatMul)."""
    w = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], "mm"), helper.make_node("Gather", ["w", "i"], ["g"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 64]), helper.make_tensor_value_info("i", 7, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 16]), helper.make_tensor_value_info("g", 1, None)],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    model = quantize_matmuls(helper.make_model(graph), lambda name: 8, block=32, accuracy_level=4)
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Gather"]
    assert [t.name for t in model.graph.initializer] == ["w"]
