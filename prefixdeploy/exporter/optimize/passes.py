"""Passes that turn the portable (switchable) decoder graph into the ONNX Runtime variant.

- `fuse_attention`: each layer's attention (rotary, cache concat, masked softmax) becomes one
  `com.microsoft.GroupQueryAttention` that reads the packed q|k|v projection, applies rotary itself, and updates a
  preallocated KV buffer in place (past and present share one buffer: nothing is copied per step). Its lengths come
  from `attention_mask`: row b attends to its first sum(mask[b]) cache slots, so a row's prefix sits at slots 0..P−1
  and its real tokens get positions P, P+1, … as under PEFT.
- `last_token_logits`: the lm_head runs on the last `logits_to_keep` positions only (an input, 1 when generating:
  prefill computes one row of logits, not T; verifying a prompt-lookup draft of k tokens asks for k + 1).
- `untie_lm_head`: a transposed copy of a tied embedding as a MatMul weight, so weight-only quantization reaches it.
- `fuse_skip_norm` (after ONNX Runtime's own optimizations): each residual Add and the RMS norm that reads it become
  one `com.microsoft.SkipSimplifiedLayerNormalization`, which also returns the sum for the next residual Add.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from prefixdeploy.errors import UnsupportedModelError
from prefixdeploy.exporter.optimize.edit import GraphEdit
from prefixdeploy.models.archs.base import ArchDims, ArchSpec, RopeSpec
from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names

MS = "com.microsoft"

LM_HEAD_WEIGHT = "lm_head.weight_t"  # the MatMul weight `untie_lm_head` adds: Eᵀ (hidden, V)


def check_fusable(arch: ArchSpec, rope: RopeSpec | None) -> None:
    """Refuse a model GroupQueryAttention cannot run: it rotates R dims only when R/2 is a multiple of 8."""
    for table in (rope, rope and rope.local):
        if table is not None and table.rotary_dim % 16:
            raise UnsupportedModelError(
                f"{arch.config.model_type}: {table.rotary_dim} rotary dims per head (head_dim × partial_rotary_factor) "
                "are not a multiple of 16, which ONNX Runtime's GroupQueryAttention needs; export the portable graph "
                "only (--portable-only)"
            )


def fuse_attention(edit: GraphEdit, arch: ArchSpec, rope: RopeSpec | None) -> None:
    d = arch.dims()
    seqlens, total = lengths_from_mask(edit)
    tables = {False: _rotary_caches(edit, d, rope, "")} if rope is not None else {}
    if rope is not None and rope.local is not None:
        tables[True] = _rotary_caches(edit, d, rope.local, "_local")
    for i in range(d.num_layers):
        spec = arch.attention(i)
        o_proj = edit.node_reading(f"layers.{i}.attn.o.weight", "MatMul")
        past = [io_names.PAST_KEY.format(i), io_names.PAST_VALUE.format(i)]
        extra = {"softcap": float(spec.softcap)} if spec.softcap is not None else {}
        if spec.window is not None:  # the same count as HF's sliding_window (so GenAI's builder sets it)
            extra["local_window_size"] = spec.window
        out, present_k, present_v = edit.add(
            "GroupQueryAttention",
            [*_qkv_inputs(edit, i), *past, seqlens, total, *tables.get(spec.local_rope, tables.get(False, []))],
            outputs=3,
            domain=MS,
            num_heads=d.num_attention_heads,
            kv_num_heads=d.num_key_value_heads,
            scale=float(spec.scale),
            do_rotary=int(rope is not None),
            rotary_interleaved=0,  # HF's rotate_half: the two halves of each head, not even/odd pairs
            **extra,
        )
        o_proj.input[0] = out  # (B, T, H·D)
        edit.output_identity(io_names.PRESENT_KEY.format(i)).input[0] = present_k
        edit.output_identity(io_names.PRESENT_VALUE.format(i)).input[0] = present_v
    # present has the buffer's length (S_max), not past + T: the runtime binds past and present to one buffer.
    for out in edit.graph.output:
        if out.name.startswith("present."):
            out.type.tensor_type.shape.dim[2].dim_param = "max_sequence_length"
    for inp in edit.graph.input:
        if inp.name.startswith("past_key_values."):
            inp.type.tensor_type.shape.dim[2].dim_param = "max_sequence_length"


def _qkv_inputs(edit: GraphEdit, i: int) -> list[str]:
    """GQA's query, key, value: the packed q|k|v projection (B, T, (H + 2·H_kv)·D) with empty key and value, or,
    where the family norms q and k per head (Qwen3, Gemma 3), the normed q and k (B, T, H·D), (B, T, H_kv·D) and v:
    GQA rotates its inputs, so the norms stay in front of it as in HF."""
    name = f"layers.{i}.attn"
    qkv = _projection_output(edit, f"{name}.qkv")
    q_norm = edit.node_reading(f"{name}.q_norm.weight", "Mul")
    if q_norm is None:
        return [qkv, "", ""]
    k_norm = edit.node_reading(f"{name}.k_norm.weight", "Mul")
    split = next(n for n in edit.consumers(qkv) if n.op_type == "Split")
    flat = edit.initializer(f"gqa.{i}.flat", np.array([0, 0, -1], np.int64))
    (q,) = edit.add("Reshape", [q_norm.output[0], flat])  # (B, T, H, D) -> (B, T, H·D)
    (k,) = edit.add("Reshape", [k_norm.output[0], flat])
    return [q, k, split.output[2]]


def lengths_from_mask(edit: GraphEdit, mask: str = io_names.ATTENTION_MASK, names: str = "gqa") -> tuple[str, str]:
    """seqlens_k (B,) int32 = sum(mask) − 1 and total_sequence_length () int32 = mask width, as GQA wants them;
    `names` prefixes the constants' initializers."""
    (summed,) = edit.add("ReduceSum", [mask, edit.initializer(f"{names}.axis1", np.array([1], np.int64))], keepdims=0)
    (minus,) = edit.add("Sub", [summed, edit.initializer(f"{names}.one", np.array(1, np.int64))])
    (seqlens,) = edit.add("Cast", [minus], to=TensorProto.INT32)
    (width,) = edit.add("Shape", [mask], start=1, end=2)
    (scalar,) = edit.add("Squeeze", [width])
    (total,) = edit.add("Cast", [scalar], to=TensorProto.INT32)
    return seqlens, total


def _rotary_caches(edit: GraphEdit, d: ArchDims, rope: RopeSpec, suffix: str) -> list[str]:
    """cos/sin (max_positions, R/2) tables in float64 → float32, scaled like HF's attention_scaling; R < D: GQA
    rotates the first R dims of each head (partial rotary)."""
    angles = np.arange(d.max_positions, dtype=np.float64)[:, None] * rope.inv_freq.astype(np.float64)[None, :]
    return [
        edit.initializer(f"cos_cache{suffix}", (np.cos(angles) * rope.scaling).astype(np.float32)),
        edit.initializer(f"sin_cache{suffix}", (np.sin(angles) * rope.scaling).astype(np.float32)),
    ]


def _projection_output(edit: GraphEdit, name: str) -> str:
    """The output of linear layer `name` (MatMul, plus its bias Add when there is one)."""
    matmul = edit.node_reading(f"{name}.weight", "MatMul")
    add = edit.node_reading(f"{name}.bias", "Add")
    return add.output[0] if add is not None else matmul.output[0]


def last_token_logits(edit: GraphEdit, d: ArchDims) -> None:
    """Slice the final hidden states to the last `logits_to_keep` positions before the lm_head: logits (B, n, V)."""
    gemm = next(n for n in edit.graph.node if n.op_type == "Gemm")  # the lm_head: the builder's only Gemm
    flatten = edit.producer(gemm.input[0])  # Reshape (B·T, hidden)
    hidden = flatten.input[0]  # (B, T, hidden), after the final norm
    edit.add_input(io_names.LOGITS_TO_KEEP, TensorProto.INT64, [1])  # (1,) n, as HF's `logits_to_keep`
    (starts,) = edit.add("Neg", [io_names.LOGITS_TO_KEEP])  # (1,) −n
    ends, axes = (
        edit.initializer(f"last.{k}", np.array([v], np.int64))
        for k, v in (("ends", np.iinfo(np.int64).max), ("axes", 1))
    )
    (last,) = edit.add("Slice", [hidden, starts, ends, axes])  # (B, n, hidden)
    flatten.input[0] = last
    unflatten = edit.consumers(gemm.output[0])[0]  # Reshape to (B, n, V)
    shape = [edit.initializer("last.batch", np.array([-1], np.int64)), io_names.LOGITS_TO_KEEP]
    (unflatten.input[1],) = edit.add(
        "Concat", [*shape, edit.initializer("last.vocab", np.array([d.vocab_size], np.int64))], axis=0
    )
    for out in edit.graph.output:
        if out.name == io_names.LOGITS:
            out.type.tensor_type.shape.dim[1].dim_param = io_names.LOGITS_TO_KEEP


def untie_lm_head(edit: GraphEdit) -> tuple[str, str]:
    """Gemm(x, E, transB=1) → MatMul(x, Eᵀ) with its own weight: MatMul weights are what quantizers rewrite.

    Returns the names of the table E and of the new weight Eᵀ.
    """
    gemm = next(n for n in edit.graph.node if n.op_type == "Gemm")
    table = edit.find_initializer(gemm.input[1])
    from onnx import numpy_helper

    weight = edit.initializer(LM_HEAD_WEIGHT, numpy_helper.to_array(table).T)  # (hidden, V)
    (out,) = edit.add("MatMul", [gemm.input[0], weight])
    for node in edit.consumers(gemm.output[0]):
        node.input[list(node.input).index(gemm.output[0])] = out
    return table.name, weight


def fuse_skip_norm(edit: GraphEdit) -> None:
    """Add(x, y) → SimplifiedLayerNormalization becomes SkipSimplifiedLayerNormalization(x, y) → (norm, x + y).

    ONNX Runtime's SkipLayerNormFusion leaves the pair alone when the sum has other readers, and in a pre-norm
    decoder it always has: the next residual Add. One kernel instead of two per norm (60 nodes fewer for 30 layers);
    the sum comes out as the fused op's 4th output (input_skip_bias_sum).
    """
    initializers = {t.name for t in edit.graph.initializer}
    for norm in [n for n in edit.graph.node if n.op_type == "SimplifiedLayerNormalization" and not n.domain]:
        add = edit.producer(norm.input[0])
        attrs = {a.name: helper.get_attribute_value(a) for a in norm.attribute}
        if add is None or add.op_type != "Add" or attrs.get("axis", -1) != -1:
            continue
        if any(i in initializers for i in add.input):  # a bias, not a residual: broadcast, not the op's contract
            continue
        readers = [n for n in edit.consumers(add.output[0]) if n is not norm]
        graph_out = any(o.name == add.output[0] for o in edit.graph.output)
        fused = helper.make_node(
            "SkipSimplifiedLayerNormalization",
            [add.input[0], add.input[1], norm.input[1]],  # input, skip, gamma
            [norm.output[0], "", "", add.output[0] if readers or graph_out else ""],  # output, mean, inv_std, sum
            name=f"{norm.name}/SkipFusion",
            domain=MS,
            epsilon=attrs.get("epsilon", 1e-5),
        )
        edit.graph.node.remove(norm)
        edit.graph.node.remove(add)
        edit.graph.node.append(fused)
