"""The portable decoder graph: one generic builder for every registered family, standard ONNX ops only.

Shape letters: B batch, T new tokens, S keys visible to attention, P prefix length, H heads, H_kv kv heads,
D head dim, R rotary dims, V vocab. I/O names follow the usual decoder convention (see `runtime/manifest.py`).

switchable: the prefix arrives as the initial `past_key_values.*` (the runtime seeds it, positions start at P).
baked: the prefixes are constants; the graph prepends them to every layer's keys/values, prepends their mask to
`attention_mask`, and adds each row's prefix length to `position_ids`, so the I/O covers the real tokens only.
The layers themselves are in `blocks.py`.
"""

from __future__ import annotations

import numpy as np
import onnx

from prefixdeploy.exporter.blocks import LayerInputs, decoder_layer, norm, style
from prefixdeploy.exporter.graph import BOOL, FLOAT, INT64, GraphBuilder
from prefixdeploy.models.archs.base import ArchSpec, PositionStyle, RopeSpec
from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names
from prefixdeploy.runtime.prefix import Prefix


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
    x, rotary = style(_POSITIONS, arch.positions)(b, arch, rope, x, pos)
    windows = {arch.attention(i).window for i in range(d.num_layers)}
    with b.scope("mask"):
        allowed = _allowed_keys(b, mask, ids, windows)
    ctx = LayerInputs(d, allowed, rotary, rope.rotary_dim if rope else 0, prefix_kv)

    presents = []
    for i in range(d.num_layers):
        with b.scope(f"layers.{i}"):
            x, present = decoder_layer(b, arch, ctx, i, x, pasts[i])
        presents.append(present)

    with b.scope("lm_head"):
        logits = _lm_head(b, arch, embed, x, ids)  # (B, T, V)
    b.output(logits, io_names.LOGITS, FLOAT, ["batch_size", "sequence_length", d.vocab_size])
    out_shape = ["batch_size", d.num_key_value_heads, "total_sequence_length", d.head_dim]
    for i, (k, v) in enumerate(presents):
        b.output(k, io_names.PRESENT_KEY.format(i), FLOAT, out_shape)
        b.output(v, io_names.PRESENT_VALUE.format(i), FLOAT, out_shape)
    return b.to_model("prefixdeploy")


def _lm_head(b: GraphBuilder, arch: ArchSpec, embed: str, x: str, ids: str) -> str:
    """The final norm and the lm_head (the builder's only Gemm: the ONNX Runtime passes find it so), then any
    scaling of the logits: (B, T, V)."""
    d = arch.dims()
    x = norm(b, arch, "final_norm", arch.final_norm(), x, d.norm_eps)
    head = arch.lm_head()
    head = embed if head is None else b.initializer("lm_head.weight", head)  # (V, hidden)
    flat = b.reshape(x, [-1, d.hidden_size])  # (B·T, hidden)
    logits = b.op("Gemm", flat, head, transB=1)  # (B·T, V)
    logits = b.reshape(logits, b.op("Concat", b.op("Shape", ids), b.const([d.vocab_size]), axis=0))  # (B, T, V)
    if arch.logits_scaling() != 1.0:
        logits = b.op("Div", logits, b.const(arch.logits_scaling(), np.float32))
    cap = arch.final_logit_softcapping()
    if cap is not None:
        logits = b.op("Mul", b.op("Tanh", b.op("Div", logits, b.const(cap, np.float32))), b.const(cap, np.float32))
    return logits


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


def _learned_positions(b: GraphBuilder, arch: ArchSpec, rope: RopeSpec | None, x: str, pos: str):
    """x + table[pos]: (B, T, hidden), no rotary tables."""
    return b.op("Add", x, b.op("Gather", b.initializer("embed_positions.weight", arch.position_table()), pos)), None


def _rotary_positions(b: GraphBuilder, arch: ArchSpec, rope: RopeSpec | None, x: str, pos: str):
    """x unchanged, and the rotary cos, sin (B, 1, T, R) that the layers apply to q and k: {local rope?: tables}."""
    with b.scope("rotary"):
        tables = _rope_tables(b, rope, pos)
    if rope.local is None:
        return x, {False: tables, True: tables}
    with b.scope("rotary_local"):
        return x, {False: tables, True: _rope_tables(b, rope.local, pos)}


_POSITIONS = {PositionStyle.LEARNED: _learned_positions, PositionStyle.ROPE: _rotary_positions}


def _rope_tables(b: GraphBuilder, rope: RopeSpec, pos: str) -> tuple[str, str]:
    """cos, sin (B, 1, T, R) as HF computes them: freqs = pos ⊗ inv_freq, emb = [freqs | freqs]."""
    freqs = b.op("Mul", b.unsqueeze(b.op("Cast", pos, to=FLOAT), [-1]), b.const(rope.inv_freq, np.float32))
    emb = b.unsqueeze(b.op("Concat", freqs, freqs, axis=-1), [1])  # (B, 1, T, R)
    cos, sin = b.op("Cos", emb), b.op("Sin", emb)
    if rope.scaling != 1.0:
        scale = b.const(rope.scaling, np.float32)
        cos, sin = b.op("Mul", cos, scale), b.op("Mul", sin, scale)
    return cos, sin


def _allowed_keys(b: GraphBuilder, mask: str, ids: str, windows: set[int | None]) -> dict[int | None, str]:
    """{window: (B, 1, T, S) bool}: key s is visible to query t if it is not padding and s ≤ S − T + t (causal),
    and, with a sliding window, if it is less than `window` positions behind the query."""
    total, new = b.scalar_dim(mask, 1), b.scalar_dim(ids, 1)  # S, T: rank 0
    one, zero = b.const(1), b.const(0)  # rank 0: every Range input is a scalar (ONNX says so; TensorRT needs it)
    keys = b.unsqueeze(b.op("Range", zero, total, one), [0])  # (1, S)
    queries = b.unsqueeze(b.op("Range", b.op("Sub", total, new), total, one), [1])  # (T, 1)
    causal = b.op("LessOrEqual", keys, queries)  # (T, S)
    not_pad = b.op("Cast", b.unsqueeze(mask, [1, 2]), to=BOOL)  # (B, 1, 1, S)
    allowed = b.op("And", causal, not_pad)
    return {w: allowed if w is None else _within_window(b, allowed, mask, new, w) for w in sorted(windows, key=str)}


def _within_window(b: GraphBuilder, allowed: str, mask: str, new: str, window: int) -> str:
    """`allowed` and less than `window` positions back, as HF's sliding-window mask under PEFT: the prefix sits at
    positions 0…P−1 and slides out of the window like any token.

    A slot's position is the count of unmasked slots before it (rows are padded in the middle too), counted in
    float: TensorRT's CumSum takes no integers, and positions are exact in float32 up to 2²⁴.
    """
    position = b.op("CumSum", b.op("Cast", mask, to=FLOAT), b.const(1))  # (B, S): 1 + position of each key
    query = b.op("Slice", position, b.op("Neg", b.unsqueeze(new, [0])), b.const([np.iinfo(np.int64).max]), b.const([1]))
    behind = b.op("Sub", b.unsqueeze(query, [2]), b.unsqueeze(position, [1]))  # (B, T, S): query − key position
    inside = b.op("Less", behind, b.const(float(window), np.float32))  # (B, T, S)
    return b.op("And", allowed, b.unsqueeze(inside, [1]))  # (B, 1, T, S)
