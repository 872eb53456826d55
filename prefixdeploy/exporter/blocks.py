"""The blocks of the portable decoder graph: a decoder layer's norms, attention and MLP, by the family's styles.

Shape letters as in `decoder.py`; R is the number of rotary dims of a head (R = D unless the rotary is partial).
Every style is a closed set: a table maps it to its builder, and a style without one raises (never a default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefixdeploy.exporter.graph import GraphBuilder
from prefixdeploy.models.archs.base import (
    ArchDims,
    ArchSpec,
    AttentionSpec,
    LayerWeights,
    Linear,
    MlpStyle,
    Norm,
    NormStyle,
)

# The score of a key a query may not see. Finite, so a row with no visible key (a padding query) gives a uniform
# softmax rather than NaN, and finite in fp16 too (TensorRT fp16 engines): a NaN there would enter the cache.
MASKED = float(np.finfo(np.float16).min)


@dataclass
class LayerInputs:
    """Per-graph values that every layer reads."""

    dims: ArchDims
    allowed: dict[int | None, str]  # sliding window (None: none) -> (B, 1, T, S) bool: the keys a query may see
    rotary: dict[bool, tuple[str, str]] | None  # local rope? -> cos, sin, each (B, 1, T, R)
    rotary_dim: int  # R
    prefix_kv: list[tuple[str, str]] | None  # baked: per layer, each (B, H_kv, P, D)


def style(table: dict, key):
    """The builder of style `key` in `table`; a style without one is a bug in the family, never a silent default."""
    if key not in table:
        raise NotImplementedError(f"the decoder builder has no {type(key).__name__} {key!r}")
    return table[key]


def decoder_layer(b: GraphBuilder, arch: ArchSpec, ctx: LayerInputs, i: int, x: str, past: tuple[str, str]):
    """Layer i on the residual stream x (B, T, hidden); returns the new stream and the layer's present (k, v)."""
    w: LayerWeights = arch.layer(i)
    eps = ctx.dims.norm_eps
    with b.scope("attn"):
        h = norm(b, arch, f"layers.{i}.ln_1", w.ln_1, x, eps)
        attn, present = _attention(b, arch, ctx, i, w, h, past)
        if w.post_attn_norm is not None:
            attn = norm(b, arch, f"layers.{i}.post_attn_norm", w.post_attn_norm, attn, eps)
    x = _residual(b, arch, x, attn)
    with b.scope("mlp"):
        h = norm(b, arch, f"layers.{i}.ln_2", w.ln_2, x, eps)
        h = style(MLPS, arch.mlp)(b, f"layers.{i}.mlp", w.mlp, h)
        if w.post_mlp_norm is not None:
            h = norm(b, arch, f"layers.{i}.post_mlp_norm", w.post_mlp_norm, h, eps)
        x = _residual(b, arch, x, h)
    return x, present


def _residual(b: GraphBuilder, arch: ArchSpec, x: str, h: str) -> str:
    if arch.residual_scale() != 1.0:
        h = b.op("Mul", h, b.const(arch.residual_scale(), np.float32))
    return b.op("Add", x, h)


def _attention(b: GraphBuilder, arch: ArchSpec, ctx: LayerInputs, i: int, w: LayerWeights, h: str, past):
    d, spec = ctx.dims, arch.attention(i)
    H, H_kv, D = d.num_attention_heads, d.num_key_value_heads, d.head_dim
    name = f"layers.{i}.attn"
    # One packed projection [q | k | v] (fewer, larger reads; the ONNX Runtime variant feeds it to its fused kernel).
    qkv = _linear(b, f"{name}.qkv", _pack([w.q, w.k, w.v]), h)  # (B, T, (H + 2·H_kv)·D)
    q, k, v = b.op("Split", qkv, b.const([H * D, H_kv * D, H_kv * D]), axis=-1, outputs=3)
    q = _heads(b, q, H, D, _head_norm(b, arch, f"{name}.q_norm", w.q_norm, d.norm_eps))
    k = _heads(b, k, H_kv, D, _head_norm(b, arch, f"{name}.k_norm", w.k_norm, d.norm_eps))
    v = _heads(b, v, H_kv, D)  # q, k, v: (B, H|H_kv, T, D)
    if ctx.rotary:
        cos_sin, R = ctx.rotary[spec.local_rope], ctx.rotary_dim
        q, k = _rotate(b, q, cos_sin, D, R), _rotate(b, k, cos_sin, D, R)
    present_k = b.op("Concat", past[0], k, axis=2)  # (B, H_kv, S_past + T, D)
    present_v = b.op("Concat", past[1], v, axis=2)
    keys, values = present_k, present_v
    if ctx.prefix_kv:  # baked: [prefix | past | new]; the prefix never enters present
        keys = b.op("Concat", ctx.prefix_kv[i][0], present_k, axis=2)  # (B, H_kv, S, D)
        values = b.op("Concat", ctx.prefix_kv[i][1], present_v, axis=2)
    # Grouped-query attention without repeating K/V: fold the n_rep query heads of each kv head into the rows.
    q = b.reshape(b.op("Mul", q, b.const(spec.scale, np.float32)), [0, H_kv, -1, D])  # (B, H_kv, n_rep·T, D)
    scores = b.op("MatMul", q, b.op("Transpose", keys, perm=[0, 1, 3, 2]))  # (B, H_kv, n_rep·T, S)
    scores = _softcap(b, b.reshape(scores, [0, H, -1, 0]), spec)  # (B, H, T, S)
    probs = b.op("Softmax", b.op("Where", ctx.allowed[spec.window], scores, b.const(MASKED, np.float32)), axis=-1)
    out = b.op("MatMul", b.reshape(probs, [0, H_kv, -1, 0]), values)  # (B, H_kv, n_rep·T, D)
    out = b.op("Transpose", b.reshape(out, [0, H, -1, D]), perm=[0, 2, 1, 3])  # (B, T, H, D)
    out = _linear(b, f"{name}.o", w.o, b.reshape(out, [0, 0, H * D]))  # (B, T, hidden)
    return out, (present_k, present_v)


def _softcap(b: GraphBuilder, scores: str, spec: AttentionSpec) -> str:
    """HF's attention soft-capping: c·tanh(scores / c), before the mask."""
    if spec.softcap is None:
        return scores
    cap = b.const(spec.softcap, np.float32)
    return b.op("Mul", b.op("Tanh", b.op("Div", scores, cap)), cap)


def _head_norm(b: GraphBuilder, arch: ArchSpec, name: str, w: Norm | None, eps: float):
    """The q or k norm over each head's D (Qwen3, Gemma 3: before the rotation), or None."""
    return None if w is None else lambda x: norm(b, arch, name, w, x, eps)


def _heads(b: GraphBuilder, x: str, heads: int, D: int, per_head=None) -> str:
    """(B, T, heads·D) → (B, heads, T, D), applying `per_head` (a q/k norm) to (B, T, heads, D) on the way."""
    x = b.reshape(x, [0, 0, heads, D])  # (B, T, heads, D)
    return b.op("Transpose", per_head(x) if per_head else x, perm=[0, 2, 1, 3])


def _rotate(b: GraphBuilder, x: str, cos_sin: tuple[str, str], D: int, R: int) -> str:
    """HF's apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x2 | x1], on the first R dims.

    With R < D the last D − R dims of each head pass unchanged (Phi-3's partial rotary).
    """
    rest = None
    if R < D:
        x, rest = b.op("Split", x, b.const([R, D - R]), axis=-1, outputs=2)
    x1, x2 = b.op("Split", x, b.const([R // 2, R // 2]), axis=-1, outputs=2)
    rotated = b.op("Concat", b.op("Neg", x2), x1, axis=-1)
    x = b.op("Add", b.op("Mul", x, cos_sin[0]), b.op("Mul", rotated, cos_sin[1]))
    return x if rest is None else b.op("Concat", x, rest, axis=-1)


def _linear(b: GraphBuilder, name: str, w: Linear, x: str) -> str:
    y = b.op("MatMul", x, b.initializer(f"{name}.weight", w[0]))
    return y if w[1] is None else b.op("Add", y, b.initializer(f"{name}.bias", w[1]))


def _pack(parts: list[Linear]) -> Linear:
    """Concatenate linear layers along their outputs; a missing bias counts as zeros if any part has one."""
    weight = np.concatenate([w for w, _ in parts], axis=1)
    if all(bias is None for _, bias in parts):
        return weight, None
    return weight, np.concatenate([np.zeros(w.shape[1], w.dtype) if bias is None else bias for w, bias in parts])


# -- norms ----------------------------------------------------------------------------------------------------------


def norm(b: GraphBuilder, arch: ArchSpec, name: str, w: Norm, x: str, eps: float) -> str:
    """The family's norm over the last axis of x."""
    return style(NORMS, arch.norm)(b, name, w, x, eps)


def _layer_norm(b: GraphBuilder, name: str, w: Norm, x: str, eps: float) -> str:
    scale, bias = b.initializer(f"{name}.weight", w[0]), b.initializer(f"{name}.bias", w[1])
    return b.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=eps)


def _rms_norm(b: GraphBuilder, name: str, w: Norm, x: str, eps: float) -> str:
    """RMSNorm in the exact form ONNX Runtime fuses into SimplifiedLayerNormalization."""
    scale = b.initializer(f"{name}.weight", w[0])
    var = b.reduce_mean(b.op("Pow", x, b.const(2.0, np.float32)), [-1])
    rms = b.op("Sqrt", b.op("Add", var, b.const(eps, np.float32)))
    return b.op("Mul", b.op("Div", x, rms), scale)


NORMS = {NormStyle.LAYER: _layer_norm, NormStyle.RMS: _rms_norm}


# -- MLPs -----------------------------------------------------------------------------------------------------------


def _gelu_tanh(b: GraphBuilder, h: str) -> str:
    """gelu_new / gelu_pytorch_tanh: 0.5·h·(1 + tanh(√(2/π)·(h + 0.044715·h³)))."""
    inner = b.op("Add", h, b.op("Mul", b.op("Pow", h, b.const(3.0, np.float32)), b.const(0.044715, np.float32)))
    t = b.op("Tanh", b.op("Mul", inner, b.const(np.sqrt(2.0 / np.pi), np.float32)))
    return b.op("Mul", b.op("Mul", h, b.op("Add", t, b.const(1.0, np.float32))), b.const(0.5, np.float32))


def _gelu_mlp(b: GraphBuilder, name: str, w: dict[str, Linear], x: str) -> str:
    """fc_out(gelu_tanh(fc_in(x)))."""
    h = _gelu_tanh(b, _linear(b, f"{name}.fc_in", w["fc_in"], x))
    return _linear(b, f"{name}.fc_out", w["fc_out"], h)


def _gated(b: GraphBuilder, name: str, w: dict[str, Linear], x: str) -> tuple[str, str]:
    """gate(x), up(x), each (B, T, I), from one packed projection."""
    gate_up = _linear(b, f"{name}.gate_up", _pack([w["gate"], w["up"]]), x)  # (B, T, 2·I)
    width = w["gate"][0].shape[1]
    return b.op("Split", gate_up, b.const([width, width]), axis=-1, outputs=2)


def _swiglu_mlp(b: GraphBuilder, name: str, w: dict[str, Linear], x: str) -> str:
    """down(silu(gate(x)) · up(x))."""
    gate, up = _gated(b, name, w, x)
    silu = b.op("Mul", gate, b.op("Sigmoid", gate))
    return _linear(b, f"{name}.down", w["down"], b.op("Mul", silu, up))


def _geglu_mlp(b: GraphBuilder, name: str, w: dict[str, Linear], x: str) -> str:
    """down(gelu_tanh(gate(x)) · up(x)) (Gemma's hidden_activation gelu_pytorch_tanh)."""
    gate, up = _gated(b, name, w, x)
    return _linear(b, f"{name}.down", w["down"], b.op("Mul", _gelu_tanh(b, gate), up))


MLPS = {MlpStyle.GELU_TANH: _gelu_mlp, MlpStyle.SWIGLU: _swiglu_mlp, MlpStyle.GEGLU_TANH: _geglu_mlp}
