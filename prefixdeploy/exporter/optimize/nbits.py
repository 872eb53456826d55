"""Block-wise weight quantization of MatMul weights into `com.microsoft.MatMulNBits`, written here, not by ORT's tool.

Each weight W (K, N) is cut into blocks of `block` values along K; a block stores codes q, one scale s and one uint8
zero point z, and stands for s·(q − z). ONNX Runtime's `MatMulNBitsQuantizer` fits s and z by min–max, which wastes
weights that are already quantized (a GGUF source is): SmolLM2's blocks are Q4_1 (d·q + m, 16 levels) and its
embedding/lm_head is Q8_0 (d·q, symmetric). Here every block tries several grids and keeps the one with the least
squared error: asymmetric min–max; for 8 bits also the coarser scales range/(15·k), which put a 16-level block on
exact codes with a nearly exact zero point; and the symmetric grid, exact for Q8_0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

MS = "com.microsoft"
_CHUNK = 4096  # output columns quantized at once: bounds the temporaries to ~100 MB on a 49152-wide lm_head


@dataclass(frozen=True)
class QuantizedBlocks:
    codes: np.ndarray  # (N, n_blocks, block) uint8, one code per weight
    scales: np.ndarray  # (N, n_blocks) float32
    zero_points: np.ndarray  # (N, n_blocks) uint8


def quantize_blocks(w: np.ndarray, bits: int, block: int) -> QuantizedBlocks:
    """w (K, N) float32 → per-block codes, scales, zero points (K padded with zeros to a multiple of `block`)."""
    k, n = w.shape
    n_blocks = -(-k // block)
    padded = np.zeros((n_blocks * block, n), np.float32)
    padded[:k] = w
    parts = [_quantize_columns(padded[:, i : i + _CHUNK], bits, block) for i in range(0, n, _CHUNK)]
    codes, scales, zero_points = (np.concatenate(p) for p in zip(*parts))
    return QuantizedBlocks(codes, scales, zero_points)


def _quantize_columns(w: np.ndarray, bits: int, block: int) -> tuple[np.ndarray, ...]:
    x = w.reshape(-1, block, w.shape[1]).transpose(2, 0, 1)  # (N, n_blocks, block)
    top = (1 << bits) - 1
    lo, hi = np.minimum(x.min(-1), 0.0), np.maximum(x.max(-1), 0.0)  # the grid must hold 0 for z to be in range
    best = _fit(x, (hi - lo) / top, lo, top)
    if bits == 8:  # 16-level (Q4_1) blocks: scale range/(15·k) gives exact codes and a zero point within s/2
        for k in range(1, (top + 1) // 16 + 1):
            best = _better(best, _fit(x, (hi - lo) / (15 * k), lo, top))
    mid = (top + 1) // 2  # symmetric: w = s·(q − mid), exact for Q8_0 blocks
    best = _better(best, _fit(x, np.abs(x).max(-1) / (mid - 1), None, top, mid))
    _, q, s, z = best
    return q.astype(np.uint8), s.astype(np.float32), z.astype(np.uint8)


def _fit(x, scale, lo, top, mid=None):
    """Round x onto the grid s·(q − z); returns (squared error per block, q, s, z)."""
    s = np.where(scale == 0, 1.0, scale).astype(np.float32)  # (N, n_blocks)
    z = np.full(s.shape, float(mid)) if mid is not None else np.clip(np.round(-lo / s), 0, top)
    q = np.clip(np.round(x / s[..., None]) + z[..., None], 0, top)
    err = np.square(s[..., None] * (q - z[..., None]) - x).sum(-1)
    return err, q, s, z


def _better(a, b):
    pick = b[0] < a[0]
    return tuple(np.where(pick[..., None] if u.ndim == 3 else pick, v, u) for u, v in zip(a, b))


def pack(blocks: QuantizedBlocks, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """MatMulNBits' B (N, n_blocks, block·bits/8) and zero points: 4-bit values two to a byte, low nibble first."""
    codes, zp = blocks.codes, blocks.zero_points
    if bits == 8:
        return codes, zp.reshape(-1)
    if zp.shape[1] % 2:
        zp = np.concatenate([zp, np.zeros((zp.shape[0], 1), np.uint8)], 1)
    return codes[..., 0::2] | (codes[..., 1::2] << 4), (zp[:, 0::2] | (zp[:, 1::2] << 4)).reshape(-1)


def quantize_matmuls(
    model: onnx.ModelProto,
    bits_of: Callable[[str], int | None],
    block: int,
    accuracy_level: int,
) -> onnx.ModelProto:
    """Replace each MatMul(x, W) with a 2-D initializer W by MatMulNBits at `bits_of(W's name)` bits (None: keep)."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    others = {i for n in graph.node if n.op_type != "MatMul" for i in n.input}  # e.g. an embedding's Gather
    nodes, added, replaced = [], {}, set()
    for node in graph.node:
        w = weights.get(node.input[1]) if node.op_type == "MatMul" and node.input[1] not in others else None
        bits = bits_of(w.name) if w is not None and len(w.dims) == 2 else None
        if bits is None:
            nodes.append(node)
            continue
        k, n = w.dims
        blocks = quantize_blocks(numpy_helper.to_array(w), bits, block)
        b, zp = pack(blocks, bits)
        for suffix, value in (("_Q", b), ("_scales", blocks.scales.reshape(-1)), ("_zero_points", zp)):
            added[w.name + suffix] = numpy_helper.from_array(value, w.name + suffix)
        replaced.add(w.name)
        inputs = [node.input[0], w.name + "_Q", w.name + "_scales", w.name + "_zero_points"]
        attrs = {"K": k, "N": n, "bits": bits, "block_size": block, "accuracy_level": accuracy_level}
        nodes.append(
            helper.make_node("MatMulNBits", inputs, [node.output[0]], node.name + "_nbits", domain=MS, **attrs)
        )
    kept = [t for t in graph.initializer if t.name not in replaced]
    del graph.node[:], graph.initializer[:]
    graph.node.extend(nodes)
    graph.initializer.extend(kept + list(added.values()))
    return model
