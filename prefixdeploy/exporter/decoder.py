"""The portable decoder graph: one generic builder for every registered family, standard ONNX ops only.

Shape letters: B batch, T new tokens, S keys visible to attention, P prefix length, H heads, H_kv kv heads,
D head dim, V vocab. I/O names follow the usual decoder convention (see `runtime/manifest.py`).

switchable: the prefix arrives as the initial `past_key_values.*` (the runtime seeds it, positions start at P).
baked: the prefixes are constants; the graph prepends them to every layer's keys/values, prepends their mask to
`attention_mask`, and adds each row's prefix length to `position_ids`, so the I/O covers the real tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from prefixdeploy.exporter.graph import BOOL, FLOAT, INT64, GraphBuilder
from prefixdeploy.models.archs.base import (
    ArchDims,
    ArchSpec,
    LayerWeights,
    Linear,
    MlpStyle,
    Norm,
    NormStyle,
    PositionStyle,
    RopeSpec,
)
from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names
from prefixdeploy.runtime.prefix import Prefix

# The score of a key a query may not see. Finite, so a row with no visible key (a padding query) gives a uniform
# softmax rather than NaN, and finite in fp16 too (TensorRT fp16 engines): a NaN there would enter the cache.
MASKED = float(np.finfo(np.float16).min)


@dataclass
class _Context:
    """Per-graph values that every layer reads."""

    dims: ArchDims
    allowed: str  # (B, 1, T, S) bool: which keys each query may attend to
    cos_sin: tuple[str, str] | None  # each (B, 1, T, D)
    prefix_kv: list[tuple[str, str]] | None  # baked: per layer, each (B, H_kv, P, D)


def build_decoder(arch: ArchSpec, rope: RopeSpec | None, baked: list[Prefix] | None, opset: int) -> onnx.ModelProto:
    """Build the decoder graph of `arch`'s weights; `baked` = prefixes to bake in (None: switchable)."""
    d = arch.dims()
    b = GraphBuilder("prefixdeploy_decoder", opset)
    ids = b.input(io_names.INPUT_IDS, INT64, ["batch_size", "sequence_length"])
    mask = b.input(io_names.ATTENTION_MASK, INT64, ["batch_size", "total_sequence_length"])
    pos = b.input(io_names.POSITION_IDS, INT64, ["batch_size", "sequence_length"])
    kv_shape = ["batch_size", d.num_key_value_heads, "past_sequence_length", d.head_dim]
    pasts = [
        (b.input(io_names.PAST_KEY.format(i), FLOAT, kv_shape), b.input(io_names.PAST_VALUE.format(i), FLOAT, kv_shape))
        for i in range(d.num_layers)
    ]
    prefix_kv = None
    if baked:
        with b.scope("prefix"):
            prefix_kv, prefix_mask, offset = _baked_prefix(b, baked, ids)
        mask = b.op("Concat", prefix_mask, mask, axis=1)  # (B, P + S_past + T)
        pos = b.op("Add", pos, offset)  # PEFT gives real tokens positions P, P+1, …

    embed = b.initializer("embed_tokens.weight", arch.embeddings())  # (V, hidden), shared with a tied lm_head
    x = b.op("Gather", embed, ids)  # (B, T, hidden)
    if arch.embedding_scale() != 1.0:
        x = b.op("Mul", x, b.const(arch.embedding_scale(), np.float32))
    x, cos_sin = _style(_POSITIONS, arch.positions)(b, arch, rope, x, pos)
    with b.scope("mask"):
        allowed = _allowed_keys(b, mask, ids)
    ctx = _Context(d, allowed, cos_sin, prefix_kv)

    presents = []
    for i in range(d.num_layers):
        with b.scope(f"layers.{i}"):
            x, present = _layer(b, arch, ctx, i, x, pasts[i])
        presents.append(present)

    with b.scope("lm_head"):
        x = _norm(b, arch, "final_norm", arch.final_norm(), x, d.norm_eps)
        head = arch.lm_head()
        head = embed if head is None else b.initializer("lm_head.weight", head)  # (V, hidden)
        flat = b.reshape(x, [-1, d.hidden_size])  # (B·T, hidden)
        logits = b.op("Gemm", flat, head, transB=1)  # (B·T, V)
        logits = b.reshape(logits, b.op("Concat", b.op("Shape", ids), b.const([d.vocab_size]), axis=0))  # (B, T, V)
    b.output(logits, io_names.LOGITS, FLOAT, ["batch_size", "sequence_length", d.vocab_size])
    out_shape = ["batch_size", d.num_key_value_heads, "total_sequence_length", d.head_dim]
    for i, (k, v) in enumerate(presents):
        b.output(k, io_names.PRESENT_KEY.format(i), FLOAT, out_shape)
        b.output(v, io_names.PRESENT_VALUE.format(i), FLOAT, out_shape)
    return b.to_model("prefixdeploy")


def stack_bank(prefixes: list[Prefix]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Left-pad prefixes to the longest and stack: key, value (N, L, H_kv, P_max, D), mask (N, P_max), lengths (N,).

    Prefix keys carry no position, so where a prefix sits among the cache slots does not matter; masked slots are
    never attended to.
    """
    p_max = max(p.num_virtual_tokens for p in prefixes)
    L, H, _, D = prefixes[0].key.shape
    key = np.zeros((len(prefixes), L, H, p_max, D), np.float32)
    value = np.zeros_like(key)
    mask = np.zeros((len(prefixes), p_max), np.int64)
    for n, p in enumerate(prefixes):
        start = p_max - p.num_virtual_tokens
        key[n, :, :, start:], value[n, :, :, start:], mask[n, start:] = p.key, p.value, 1
    return key, value, mask, mask.sum(axis=1)


def _baked_prefix(b: GraphBuilder, prefixes: list[Prefix], ids: str):
    """Per-layer prefix keys/values (B, H_kv, P, D), the prefix mask (B, P) and position offsets (B, 1)."""
    key, value, mask, lengths = stack_bank(prefixes)  # (N, L, H_kv, P, D) ×2, (N, P), (N,)
    layers = range(key.shape[1])
    if len(prefixes) == 1:  # a plain decoder to the outside: no selector input
        batch = b.dim(ids, 0)
        expand = b.op("Concat", batch, b.const([1, 1, 1]), axis=0)
        kv = [
            tuple(
                b.op("Expand", b.initializer(f"prefix.{i}.{part}", arr[:, i]), expand)  # (B, H_kv, P, D)
                for part, arr in (("key", key), ("value", value))
            )
            for i in layers
        ]
        prefix_mask = b.op("Expand", b.const(mask), b.op("Concat", batch, b.const([1]), axis=0))  # (B, P)
        return kv, prefix_mask, b.const([[int(lengths[0])]])
    sel = b.input(io_names.PREFIX_IDS, INT64, ["batch_size"])  # (B,) index into the bank
    kv = [
        tuple(
            b.op("Gather", b.initializer(f"prefix_bank.{i}.{part}", arr[:, i]), sel, axis=0)  # (B, H_kv, P, D)
            for part, arr in (("key", key), ("value", value))
        )
        for i in layers
    ]
    prefix_mask = b.op("Gather", b.const(mask), sel, axis=0)  # (B, P)
    offset = b.unsqueeze(b.op("Gather", b.const(lengths), sel, axis=0), [1])  # (B, 1)
    return kv, prefix_mask, offset


def _style(table: dict, style):
    """The builder of `style` in `table`; a style without one is a bug in the family, never a silent default."""
    if style not in table:
        raise NotImplementedError(f"the decoder builder has no {type(style).__name__} {style!r}")
    return table[style]


def _learned_positions(b: GraphBuilder, arch: ArchSpec, rope: RopeSpec | None, x: str, pos: str):
    """x + table[pos]: (B, T, hidden), no rotary tables."""
    return b.op("Add", x, b.op("Gather", b.initializer("embed_positions.weight", arch.position_table()), pos)), None


def _rotary_positions(b: GraphBuilder, arch: ArchSpec, rope: RopeSpec | None, x: str, pos: str):
    """x unchanged, and the rotary cos, sin (B, 1, T, D) that every layer applies to q and k."""
    with b.scope("rotary"):
        return x, _rope_tables(b, rope, pos)


_POSITIONS = {PositionStyle.LEARNED: _learned_positions, PositionStyle.ROPE: _rotary_positions}


def _rope_tables(b: GraphBuilder, rope: RopeSpec, pos: str) -> tuple[str, str]:
    """cos, sin (B, 1, T, D) as HF computes them: freqs = pos ⊗ inv_freq, emb = [freqs | freqs]."""
    freqs = b.op("Mul", b.unsqueeze(b.op("Cast", pos, to=FLOAT), [-1]), b.const(rope.inv_freq, np.float32))
    emb = b.unsqueeze(b.op("Concat", freqs, freqs, axis=-1), [1])  # (B, 1, T, D)
    cos, sin = b.op("Cos", emb), b.op("Sin", emb)
    if rope.scaling != 1.0:
        scale = b.const(rope.scaling, np.float32)
        cos, sin = b.op("Mul", cos, scale), b.op("Mul", sin, scale)
    return cos, sin


def _allowed_keys(b: GraphBuilder, mask: str, ids: str) -> str:
    """(B, 1, T, S) bool: key s is visible to query t if it is not padding and s ≤ S − T + t (causal)."""
    total, new = b.scalar_dim(mask, 1), b.scalar_dim(ids, 1)  # S, T: rank 0
    one, zero = b.const(1), b.const(0)  # rank 0: every Range input is a scalar (ONNX says so; TensorRT needs it)
    keys = b.unsqueeze(b.op("Range", zero, total, one), [0])  # (1, S)
    queries = b.unsqueeze(b.op("Range", b.op("Sub", total, new), total, one), [1])  # (T, 1)
    causal = b.op("LessOrEqual", keys, queries)  # (T, S)
    not_pad = b.op("Cast", b.unsqueeze(mask, [1, 2]), to=BOOL)  # (B, 1, 1, S)
    return b.op("And", causal, not_pad)


def _layer(b: GraphBuilder, arch: ArchSpec, ctx: _Context, i: int, x: str, past: tuple[str, str]):
    w: LayerWeights = arch.layer(i)
    eps = ctx.dims.norm_eps
    with b.scope("attn"):
        h = _norm(b, arch, f"layers.{i}.ln_1", w.ln_1, x, eps)
        attn, present = _attention(b, ctx, i, w, h, past)
    x = b.op("Add", x, attn)
    with b.scope("mlp"):
        h = _norm(b, arch, f"layers.{i}.ln_2", w.ln_2, x, eps)
        x = b.op("Add", x, _mlp(b, arch, f"layers.{i}.mlp", w.mlp, h))
    return x, present


def _attention(b: GraphBuilder, ctx: _Context, i: int, w: LayerWeights, h: str, past: tuple[str, str]):
    d = ctx.dims
    H, H_kv, D = d.num_attention_heads, d.num_key_value_heads, d.head_dim
    name = f"layers.{i}.attn"
    # One packed projection [q | k | v] (fewer, larger reads; the ONNX Runtime variant feeds it to its fused kernel).
    qkv = _linear(b, f"{name}.qkv", _pack([w.q, w.k, w.v]), h)  # (B, T, (H + 2·H_kv)·D)
    q, k, v = b.op("Split", qkv, b.const([H * D, H_kv * D, H_kv * D]), axis=-1, outputs=3)
    q, k, v = _heads(b, q, H, D), _heads(b, k, H_kv, D), _heads(b, v, H_kv, D)  # (B, H|H_kv, T, D)
    if ctx.cos_sin:
        q, k = _rotate(b, q, ctx.cos_sin, D), _rotate(b, k, ctx.cos_sin, D)
    present_k = b.op("Concat", past[0], k, axis=2)  # (B, H_kv, S_past + T, D)
    present_v = b.op("Concat", past[1], v, axis=2)
    keys, values = present_k, present_v
    if ctx.prefix_kv:  # baked: [prefix | past | new]; the prefix never enters present
        keys = b.op("Concat", ctx.prefix_kv[i][0], present_k, axis=2)  # (B, H_kv, S, D)
        values = b.op("Concat", ctx.prefix_kv[i][1], present_v, axis=2)
    # Grouped-query attention without repeating K/V: fold the n_rep query heads of each kv head into the rows.
    q = b.reshape(b.op("Mul", q, b.const(1.0 / np.sqrt(D), np.float32)), [0, H_kv, -1, D])  # (B, H_kv, n_rep·T, D)
    scores = b.op("MatMul", q, b.op("Transpose", keys, perm=[0, 1, 3, 2]))  # (B, H_kv, n_rep·T, S)
    scores = b.reshape(scores, [0, H, -1, 0])  # (B, H, T, S)
    probs = b.op("Softmax", b.op("Where", ctx.allowed, scores, b.const(MASKED, np.float32)), axis=-1)
    out = b.op("MatMul", b.reshape(probs, [0, H_kv, -1, 0]), values)  # (B, H_kv, n_rep·T, D)
    out = b.op("Transpose", b.reshape(out, [0, H, -1, D]), perm=[0, 2, 1, 3])  # (B, T, H, D)
    out = _linear(b, f"{name}.o", w.o, b.reshape(out, [0, 0, H * D]))  # (B, T, hidden)
    return out, (present_k, present_v)


def _heads(b: GraphBuilder, x: str, heads: int, D: int) -> str:
    return b.op("Transpose", b.reshape(x, [0, 0, heads, D]), perm=[0, 2, 1, 3])  # (B, heads, T, D)


def _rotate(b: GraphBuilder, x: str, cos_sin: tuple[str, str], D: int) -> str:
    """HF's apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x2 | x1]."""
    x1, x2 = b.op("Split", x, b.const([D // 2, D // 2]), axis=-1, outputs=2)
    rotated = b.op("Concat", b.op("Neg", x2), x1, axis=-1)
    return b.op("Add", b.op("Mul", x, cos_sin[0]), b.op("Mul", rotated, cos_sin[1]))


def _linear(b: GraphBuilder, name: str, w: Linear, x: str) -> str:
    y = b.op("MatMul", x, b.initializer(f"{name}.weight", w[0]))
    return y if w[1] is None else b.op("Add", y, b.initializer(f"{name}.bias", w[1]))


def _norm(b: GraphBuilder, arch: ArchSpec, name: str, w: Norm, x: str, eps: float) -> str:
    return _style(_NORMS, arch.norm)(b, name, w, x, eps)


def _layer_norm(b: GraphBuilder, name: str, w: Norm, x: str, eps: float) -> str:
    scale, bias = b.initializer(f"{name}.weight", w[0]), b.initializer(f"{name}.bias", w[1])
    return b.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=eps)


def _rms_norm(b: GraphBuilder, name: str, w: Norm, x: str, eps: float) -> str:
    """RMSNorm in the exact form ONNX Runtime fuses into SimplifiedLayerNormalization."""
    scale = b.initializer(f"{name}.weight", w[0])
    var = b.reduce_mean(b.op("Pow", x, b.const(2.0, np.float32)), [-1])
    rms = b.op("Sqrt", b.op("Add", var, b.const(eps, np.float32)))
    return b.op("Mul", b.op("Div", x, rms), scale)


_NORMS = {NormStyle.LAYER: _layer_norm, NormStyle.RMS: _rms_norm}


def _mlp(b: GraphBuilder, arch: ArchSpec, name: str, w: dict[str, Linear], x: str) -> str:
    return _style(_MLPS, arch.mlp)(b, name, w, x)


def _gelu_mlp(b: GraphBuilder, name: str, w: dict[str, Linear], x: str) -> str:
    """fc_out(gelu_new(fc_in(x))), gelu_new(h) = 0.5·h·(1 + tanh(√(2/π)·(h + 0.044715·h³)))."""
    h = _linear(b, f"{name}.fc_in", w["fc_in"], x)
    inner = b.op("Add", h, b.op("Mul", b.op("Pow", h, b.const(3.0, np.float32)), b.const(0.044715, np.float32)))
    t = b.op("Tanh", b.op("Mul", inner, b.const(np.sqrt(2.0 / np.pi), np.float32)))
    h = b.op("Mul", b.op("Mul", h, b.op("Add", t, b.const(1.0, np.float32))), b.const(0.5, np.float32))
    return _linear(b, f"{name}.fc_out", w["fc_out"], h)


def _swiglu_mlp(b: GraphBuilder, name: str, w: dict[str, Linear], x: str) -> str:
    """down(silu(gate(x)) · up(x)), gate and up as one packed projection."""
    gate_up = _linear(b, f"{name}.gate_up", _pack([w["gate"], w["up"]]), x)  # (B, T, 2·I)
    width = w["gate"][0].shape[1]
    gate, up = b.op("Split", gate_up, b.const([width, width]), axis=-1, outputs=2)
    silu = b.op("Mul", gate, b.op("Sigmoid", gate))
    return _linear(b, f"{name}.down", w["down"], b.op("Mul", silu, up))


_MLPS = {MlpStyle.GELU_TANH: _gelu_mlp, MlpStyle.SWIGLU: _swiglu_mlp}


def _pack(parts: list[Linear]) -> Linear:
    """Concatenate linear layers along their outputs; a missing bias counts as zeros if any part has one."""
    weight = np.concatenate([w for w, _ in parts], axis=1)
    if all(bias is None for _, bias in parts):
        return weight, None
    return weight, np.concatenate([np.zeros(w.shape[1], w.dtype) if bias is None else bias for w, bias in parts])
