"""SmoothQuant-style scales for the dynamic recipes (int8 dynamic, int4 mixed-dynamic): activation outliers moved into
the weights, exactly.

DynamicQuantizeMatMul quantizes its whole input with one scale per call, so one outlier channel coarsens every other
channel. On SmolLM2 a layer's inputs to the down projection peak at up to 3,080 in a few channels where its median
channel peaks at 1–7; the normed inputs of the other matmuls spread 10–50× too. Dividing channel j of a matmul's
input by s_j and multiplying row j of its weight by s_j leaves the product unchanged, and the division folds exactly
into what made the input:

- a norm (RMSNorm's Mul by its scale, LayerNormalization's scale and bias) feeding the packed qkv, the packed gate_up
  or the lm_head: its scale (and bias) divided by s;
- a gated MLP's act(gate)·up feeding the down projection: linear in up, so column j of up (the second half of the
  packed gate_up weight) divided by s_j (in int4's 4-bit blocks, through the scales of its blocks).

SmoothQuant's s_j = sqrt(max|x_j| / max|W_j|) (α = 0.5) balances the two: the activations' spread shrinks, the
weights' grows. The maxima come from one run of the float graph over a calibration text (`calibrate.py`). What
nothing folds into (the attention output projection, GPT-2's gelu MLP) is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from prefixdeploy.exporter.optimize.calibrate import input_maxima
from prefixdeploy.exporter.optimize.dynamic import dynamic_matmuls, nbits_weight
from prefixdeploy.exporter.optimize.edit import GraphEdit
from prefixdeploy.exporter.optimize.passes import LM_HEAD_WEIGHT
from prefixdeploy.exporter.optimize.precision import DOWN

GATE_UP = ".mlp.gate_up."  # the decoder builder's packed gate and up projections: (hidden, 2·I), up second
ALPHA = 0.5  # SmoothQuant's migration strength: 0 leaves the activations as they are, 1 flattens them entirely
_FLOOR = 1e-5  # keeps s finite for a channel (or weight row) that is all zeros
_RESHAPES = ("Reshape", "Flatten")  # between the final norm and the lm_head's Gemm: (B, T, hidden) → (B·T, hidden)


@dataclass(frozen=True)
class Smoothing:
    """The scales s (K,) of each smoothed matmul input and where each 1/s folds, by initializer name."""

    rows: dict[str, np.ndarray] = field(default_factory=dict)  # matmul weight (K, N) -> s: row j times s_j
    up: dict[str, np.ndarray] = field(default_factory=dict)  # gate_up weight -> s of its down: up's columns ÷ s
    norms: dict[str, np.ndarray] = field(default_factory=dict)  # a norm's scale or bias (K,) -> s: divided by s

    def apply(self, name: str, w: np.ndarray) -> np.ndarray:
        """Matmul weight `name`, w (K, N) float32, as the smoothed graph holds it (unchanged if it has no scales)."""
        if name in self.rows:
            w = w * self.rows[name][:, None]  # row j times s_j
        if name in self.up:
            s = self.up[name]
            w = np.concatenate([w[:, : -len(s)], w[:, -len(s) :] / s], axis=1)  # (hidden, 2·I)
        return w

    def fold_norms(self, model: onnx.ModelProto) -> None:
        """Divide each smoothed norm's scale and bias in `model` (float32 initializers, weights in memory)."""
        for tensor in model.graph.initializer:
            if tensor.name in self.norms:
                folded = numpy_helper.to_array(tensor) / self.norms[tensor.name]
                tensor.CopyFrom(numpy_helper.from_array(folded.astype(np.float32), tensor.name))


def dynamic_weights(model: onnx.ModelProto, smoothing: Smoothing) -> onnx.ModelProto:
    """The dynamic recipes, after `precision.quantize_weights`: `smoothing` folded into the norms and weights, and
    every 8-bit weight dynamic, but a down projection only when its input is smoothed (unsmoothed, its outliers cost
    too much: it stays in blocks). A 4-bit gate_up (int4's mixed-dynamic) takes its up half's 1/s in its blocks'
    scales, which keeps its grid exact."""
    smoothing.fold_norms(model)
    scale_up_blocks(model, smoothing.up)
    unsmoothed = lambda name: DOWN in name and name not in smoothing.rows  # noqa: E731
    return dynamic_matmuls(model, keep=unsmoothed, transform=smoothing.apply)


def scale_up_blocks(model: onnx.ModelProto, up: dict[str, np.ndarray]) -> None:
    """Each MatMulNBits of fewer than 8 bits whose weight is a gate_up in `up`: its up half's columns ÷ s, through
    the scales of their blocks (a column's blocks all scale alike; zero points and codes stay)."""
    scales = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        name = nbits_weight(node)
        if name not in up or _attr(node, "bits", 8) == 8:  # 8 bits: dynamic_matmuls applies it to the weight
            continue
        s, n = up[name], _attr(node, "N", 0)
        table = numpy_helper.to_array(scales[node.input[2]]).reshape(n, -1).copy()
        table[n - len(s) :] /= s[:, None]
        scales[node.input[2]].CopyFrom(numpy_helper.from_array(table.reshape(-1), node.input[2]))


def smoothing_of(
    portable: onnx.ModelProto, feeds: dict[str, np.ndarray], dynamic: Callable[[str], bool] = lambda name: True
) -> Smoothing:
    """The scales for `portable` (switchable, float32, weights in memory) from one run on `feeds`
    (`calibrate.empty_cache_feeds` of the calibration text): every down projection after a gated MLP, every matmul
    a norm feeds alone, of those whose weight `dynamic` accepts (the ones the recipe makes dynamic). Keys are the
    weights' names in the ONNX Runtime graph (the lm_head: `LM_HEAD_WEIGHT`)."""
    edit = GraphEdit(portable)
    downs = {w: site for w, site in foldable_downs(edit).items() if dynamic(w)}
    normed = {w: site for w, site in norm_fed(edit).items() if dynamic(w)}
    sites = {w: x for w, (x, _) in downs.items()} | {w: x for w, (x, _, _) in normed.items()}
    maxima = input_maxima(portable, sites, feeds)
    smoothing = Smoothing()
    for down, (_, gate_up) in downs.items():
        s = _scales(maxima[down], _weight(edit, down))
        smoothing.rows[down] = smoothing.up[gate_up] = s
    for weight, (_, source, params) in normed.items():
        s = _scales(maxima[weight], smoothing.apply(weight, _weight(edit, source)))  # gate_up: its up half ÷ s first
        smoothing.rows[weight] = s
        smoothing.norms.update({p: s for p in params})
    return smoothing


def _scales(x_max: np.ndarray, w: np.ndarray) -> np.ndarray:
    """s (K,) for an input whose channels peak at `x_max` (K,) and a weight w (K, N)."""
    w_max = np.abs(w).max(axis=1)
    return (np.maximum(x_max, _FLOOR) ** ALPHA / np.maximum(w_max, _FLOOR) ** (1 - ALPHA)).astype(np.float32)


def _weight(edit: GraphEdit, name: str) -> np.ndarray:
    """Initializer `name` as a (K, N) matmul weight; the lm_head's Gemm table (V, hidden) is transposed."""
    w = numpy_helper.to_array(edit.find_initializer(name))
    gemm = edit.node_reading(name, "Gemm")
    return w.T if gemm is not None and _attr(gemm, "transB", 0) else w


def foldable_downs(edit: GraphEdit) -> dict[str, tuple[str, str]]:
    """{down weight: (its input x, the gate_up weight whose up half x is linear in)} for each MatMul reading a down
    weight whose input is Mul(act, up), up the second output of a Split of MatMul(·, gate_up weight) into halves."""
    folds = {}
    for node in edit.graph.node:
        down = node.input[1] if node.op_type == "MatMul" and len(node.input) > 1 else ""
        if DOWN not in down or (mul := edit.producer(node.input[0])) is None or mul.op_type != "Mul":
            continue
        gate_up = next((g for g in map(lambda v: _up_half_of(edit, v), mul.input) if g), None)
        if gate_up is not None and _width(edit, gate_up) == 2 * _width(edit, down, axis=0):
            folds[down] = (node.input[0], gate_up)
    return folds


def _up_half_of(edit: GraphEdit, value: str) -> str | None:
    """The gate_up weight when `value` is the second half of a Split of MatMul(·, gate_up), else None."""
    split = edit.producer(value)
    if split is None or split.op_type != "Split" or list(split.output).index(value) != 1 or len(split.output) != 2:
        return None
    matmul = edit.producer(split.input[0])
    if matmul is None or matmul.op_type != "MatMul" or GATE_UP not in matmul.input[1]:
        return None
    return matmul.input[1]


def norm_fed(edit: GraphEdit) -> dict[str, tuple[str, str, list[str]]]:
    """{weight as the ONNX Runtime graph names it: (the norm's output x, the weight in `edit`, the norm's scale and
    bias)} for each MatMul (and the lm_head's Gemm) whose input is a norm's output that nothing else reads, the norm's
    parameters read by that norm alone."""
    initializers = {t.name for t in edit.graph.initializer}
    sites = {}
    for node in edit.graph.node:
        if len(node.input) < 2 or node.input[1] not in initializers:
            continue
        if node.op_type == "MatMul":
            weight, x = node.input[1], node.input[0]
        elif node.op_type == "Gemm" and _attr(node, "transB", 0) and not _attr(node, "transA", 0):
            weight, x = LM_HEAD_WEIGHT, _through_reshapes(edit, node.input[0])  # untie_lm_head's MatMul weight
        else:
            continue
        params = _norm_params(edit, x, initializers)
        if params and len(edit.consumers(x)) == 1:
            sites[weight] = (x, node.input[1], params)
    return sites


def _through_reshapes(edit: GraphEdit, value: str) -> str:
    node = edit.producer(value)
    while node is not None and node.op_type in _RESHAPES and len(edit.consumers(value)) == 1:
        value = node.input[0]
        node = edit.producer(value)
    return value


def _norm_params(edit: GraphEdit, x: str, initializers: set[str]) -> list[str]:
    """The scale (and bias) of the norm whose output is `x`, if each is a 1-D initializer read by that norm alone."""
    norm = edit.producer(x)
    if norm is None:
        return []
    if norm.op_type == "LayerNormalization":
        params = [p for p in norm.input[1:3] if p]
    elif norm.op_type == "Mul" and norm.input[1] in initializers and edit.producer(norm.input[0]) is not None:
        params = [norm.input[1]] if edit.producer(norm.input[0]).op_type == "Div" else []  # RMSNorm: x / rms · scale
    else:
        return []
    alone = all(p in initializers and len(edit.consumers(p)) == 1 for p in params)
    return params if alone and all(len(edit.find_initializer(p).dims) == 1 for p in params) else []


def _width(edit: GraphEdit, weight: str, axis: int = 1) -> int:
    tensor = edit.find_initializer(weight)
    return tensor.dims[axis] if tensor is not None else -1


def _attr(node: onnx.NodeProto, name: str, default):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)
