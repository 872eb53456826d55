"""The embedding lookup of a tied table: its own initializer, or the tied lm_head's quantized blocks.

After `untie_lm_head` and `quantize_matmuls`, the lm_head is `MatMulNBits` over Eᵀ: its packed weight B (V, n_blocks,
block·bits/8) holds row v of E as row v, block after block, which is exactly the `data` layout that
`com.microsoft.GatherBlockQuantized` (gather_axis 0, quantize_axis 1, bits ≤ 8 packed low nibble first) reads for a
(V, n_blocks·block) table. So the float32 table (V·hidden·4 bytes, 113 MB for SmolLM2) leaves the graph, and the lookup
reads the same codes, scales and zero points as the lm_head: exact for a GGUF source whose tied table is Q8_0.

The lookup gets its own initializers (reshaped views of the same bytes, written once: see `save._relink_data`). One
initializer for both costs memory: ONNX Runtime frees a weight that only pre-packing kernels read, and keeps it
(memory-mapped, every page touched by the packing) when a Gather reads it too. For the same reason a float graph's
lookup reads its own copy of the table (`separate_lookup_table`): SmolLM2 fp32 holds 108 MiB less once loaded.
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from prefixdeploy.exporter.optimize.edit import GraphEdit

MS = "com.microsoft"


def quantize_embedding_lookup(edit: GraphEdit, table: str, lm_head: str) -> bool:
    """Replace Gather(`table`, ids) by GatherBlockQuantized over the blocks of MatMulNBits weight `lm_head`.

    table: the float (V, hidden) embedding initializer; lm_head: the name of the MatMul weight that `untie_lm_head`
    made from it (its quantized inputs are `lm_head`_Q, _scales, _zero_points). Returns False, changing nothing,
    when the graph has no such pair (an untied model, or the lm_head left in float).
    """
    gather = edit.node_reading(table, "Gather")
    matmul = edit.node_reading(lm_head + "_Q", "MatMulNBits")
    if gather is None or matmul is None or gather.input[0] != table:
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in matmul.attribute}
    bits, block, hidden, vocab = attrs["bits"], attrs["block_size"], attrs["K"], attrs["N"]
    inputs = [
        _reshaped(edit, lm_head + suffix, f"{table}{suffix}", vocab)
        for suffix in ("_Q", "_scales", "_zero_points")  # (V, n_blocks·block·bits/8), (V, n_blocks), (V, ⌈…⌉)
    ]
    (looked_up,) = edit.add(
        "GatherBlockQuantized",
        [inputs[0], gather.input[1], inputs[1], inputs[2]],
        domain=MS,
        bits=bits,
        block_size=block,
        gather_axis=0,
        quantize_axis=1,
    )  # (B, T, n_blocks·block)
    padded = -(-hidden // block) * block
    if padded != hidden:  # the blocks pad each row with zeros up to a whole block: cut them off
        ends = edit.initializer(f"{table}.hidden", np.array([hidden], np.int64))
        (looked_up,) = edit.add(
            "Slice",
            [
                looked_up,
                edit.initializer(f"{table}.zero", np.array([0], np.int64)),
                ends,
                edit.initializer(f"{table}.last_axis", np.array([-1], np.int64)),
            ],
        )
    for node in edit.consumers(gather.output[0]):
        node.input[list(node.input).index(gather.output[0])] = looked_up
    for out in edit.graph.output:
        assert out.name != gather.output[0], "the embedding output is not a graph output"
    edit.graph.node.remove(gather)
    return True


def _reshaped(edit: GraphEdit, source: str, name: str, rows: int) -> str:
    """A copy of initializer `source` named `name`, shaped (rows, -1): the same bytes, so they are stored once."""
    values = numpy_helper.to_array(edit.find_initializer(source))
    return edit.initializer(name, values.reshape(rows, -1))


def separate_lookup_table(edit: GraphEdit) -> bool:
    """Give the Gather of a table that other nodes read too (a tied lm_head's Gemm) its own initializer.

    The copy has the same bytes, so the bundle stores it once; in memory, the lm_head's pre-packing no longer pins
    every page of the table. Returns False when no Gather shares its table.
    """
    for gather in [n for n in edit.graph.node if n.op_type == "Gather"]:
        table = edit.find_initializer(gather.input[0])
        if table is not None and len(edit.consumers(table.name)) > 1:
            gather.input[0] = edit.initializer(table.name + ".lookup", numpy_helper.to_array(table))
            return True
    return False
