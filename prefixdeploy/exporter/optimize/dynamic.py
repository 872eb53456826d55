"""8-bit MatMulNBits → `com.microsoft.DynamicQuantizeMatMul`: ONNX Runtime's dynamic quantization of a matmul.

MatMulNBits (accuracy level 4) is MLAS's fastest kernel for one row, but its cost grows with the rows: at 8–16 decode
rows and in prefill it is compute-bound. DynamicQuantizeMatMul quantizes its input on every call (one uint8 scale and
zero point for the whole tensor) and multiplies with MLAS's u8s8 GEMM, which uses AMX or AVX-512 VNNI where the CPU
has them and scales with rows. One (16, 576) × (576, 1536) product on the 2-core Xeon of docs/quantization.md
(`benchmarks/matmul_kernels.py`): 45 µs, against 163 µs for 8-bit and 188 µs for 4-bit MatMulNBits (one row: 33
against 21 and 24 µs).

Weights: int8, symmetric, one scale per output column (the layout the op reads, zero points omitted), requantized
from the 8-bit blocks (after `transform`, the smoothing's row scales), so the embedding lookup keeps reading the
lm_head's blocks (`embedding.py`) and a GGUF source's Q8_0 grid is the starting point, not a second rounding of float
weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

MS = "com.microsoft"
_Q = "_Q"  # the suffix of MatMulNBits' packed weight (nbits.quantize_matmuls)


def dynamic_matmuls(
    model: onnx.ModelProto,
    keep: Callable[[str], bool],
    transform: Callable[[str, np.ndarray], np.ndarray] = lambda name, w: w,
) -> onnx.ModelProto:
    """Each 8-bit MatMulNBits whose weight name `keep` rejects becomes DynamicQuantizeMatMul over the same values,
    or over `transform(name, w)` of its (K, N) float weight (the smoothing of `smooth.py`)."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    nodes, added = [], []
    for node in graph.node:
        name = nbits_weight(node)
        if name is None or keep(name) or _attrs(node)["bits"] != 8:
            nodes.append(node)
            continue
        codes, scales = column_int8(transform(name, _dequantize(node, weights)))
        added += [numpy_helper.from_array(codes, name + "_int8"), numpy_helper.from_array(scales, name + "_int8_scale")]
        inputs = [node.input[0], name + "_int8", name + "_int8_scale"]
        nodes.append(helper.make_node("DynamicQuantizeMatMul", inputs, node.output, node.name + "_dynamic", domain=MS))
    del graph.node[:]
    graph.node.extend(nodes)
    read = {i for n in nodes for i in n.input}
    kept = [t for t in graph.initializer if t.name in read]  # the replaced blocks, unless the lookup reads them
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    return model


def nbits_weight(node: onnx.NodeProto) -> str | None:
    """The name of the float weight a MatMulNBits node was quantized from; None for any other node."""
    return node.input[1].removesuffix(_Q) if node.op_type == "MatMulNBits" else None


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _dequantize(node: onnx.NodeProto, weights: dict[str, onnx.TensorProto]) -> np.ndarray:
    """The (K, N) float32 weight an 8-bit MatMulNBits stands for: s·(q − z) per block, K's padding cut off."""
    attrs = _attrs(node)
    k, n = attrs["K"], attrs["N"]
    codes, scales, zero_points = (numpy_helper.to_array(weights[i]) for i in node.input[1:4])
    blocks = codes.reshape(n, -1, attrs["block_size"]).astype(np.float32)  # (N, n_blocks, block)
    zero_points = zero_points.reshape(n, -1).astype(np.float32)
    w = (blocks - zero_points[..., None]) * scales.reshape(n, -1)[..., None]
    return w.reshape(n, -1)[:, :k].T


def column_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w (K, N) → int8 codes (K, N) in −127..127 and one float32 scale per column: w ≈ codes · scale."""
    scale = np.abs(w).max(0) / 127
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale
