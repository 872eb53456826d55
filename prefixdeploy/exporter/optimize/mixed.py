"""The mixed-step twin of an ONNX Runtime graph: decode rows and one row's prompt chunk in one forward.

ONNX Runtime's GroupQueryAttention takes several new tokens over a past only at batch 1, so a serving step that
prefills a chunk and decodes n rows ran two forwards, each reading every weight. The twin packs the step's tokens into
one sequence (1, n + T): every matmul, norm and the lm_head run once over all of them, and only attention is split,
per layer, into two GroupQueryAttention nodes over two KV bindings:

- the first n positions are the decode rows, one token each, reshaped to (n, 1, ·) over the usual past inputs
  (`past_key_values.{i}.*`: slots [0, n)) and lengths from `attention_mask` (n, W);
- the last T positions are the prompt chunk, (1, T, ·) over `prefill.past_key_values.{i}.*` (the prefilling row's
  slot) and lengths from `prefill_attention_mask` (1, W').

The logits are those of `logit_positions` (K,) positions of the packed sequence, (1, K, V): the decode rows', and the
chunk's last when it ends its prompt. The twin references the same weights (its initializers keep their external data
entries), so it costs a graph file, not a copy of the weights on disk (in memory its session holds its own).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

from prefixdeploy.exporter.optimize.edit import GraphEdit
from prefixdeploy.exporter.optimize.passes import lengths_from_mask
from prefixdeploy.runtime import manifest as io_names

MS = "com.microsoft"


def write_mixed_twin(graph_file: Path) -> None:
    """Save the mixed-step twin of the ONNX Runtime graph at `graph_file` beside it (`mixed_twin_file`)."""
    model = onnx.load_model(str(graph_file), load_external_data=False)
    onnx.save_model(mixed_twin(model), str(graph_file.with_name(io_names.mixed_twin_file(graph_file.name))))


def mixed_twin(model: onnx.ModelProto) -> onnx.ModelProto:
    """The mixed-step graph of `model` (an ONNX Runtime graph, loaded without its external data); see the module."""
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    edit = GraphEdit(twin)
    split = _split_sizes(edit)
    lengths = _prefill_lengths(edit)
    shapes = (
        edit.initializer("mixed.rows", np.array([-1, 1, 0], np.int64)),  # (n, 1, C): 0 keeps C
        edit.initializer("mixed.packed", np.array([1, -1, 0], np.int64)),  # (1, n, C)
    )
    for node in [n for n in edit.graph.node if n.op_type == "GroupQueryAttention"]:
        _split_attention(edit, node, split, lengths, shapes)
    _logits_at_positions(edit)
    _packed_shapes(edit)
    edit.prune()
    return twin


def _packed_shapes(edit: GraphEdit) -> None:
    """input_ids (and position_ids) are (1, n + T) and logits (1, K, V): the batch is one packed sequence."""
    for value in [*edit.graph.input, *edit.graph.output]:
        if value.name in (io_names.INPUT_IDS, io_names.POSITION_IDS, io_names.LOGITS):
            dims = value.type.tensor_type.shape.dim
            dims[0].dim_value = 1
            if value.name != io_names.LOGITS:
                dims[1].dim_param = "packed_length"


def _split_sizes(edit: GraphEdit) -> str:
    """(2,) int64: [n, T] = [rows of attention_mask, packed length − n]."""
    (rows,) = edit.add("Shape", [io_names.ATTENTION_MASK], start=0, end=1)  # (1,) n
    (packed,) = edit.add("Shape", [io_names.INPUT_IDS], start=1, end=2)  # (1,) n + T
    (chunk,) = edit.add("Sub", [packed, rows])  # (1,) T
    (sizes,) = edit.add("Concat", [rows, chunk], axis=0)
    return sizes


def _prefill_lengths(edit: GraphEdit) -> tuple[str, str]:
    """The chunk's seqlens_k (1,) and total_sequence_length (), from its mask input (1, W)."""
    edit.add_input(io_names.PREFILL_ATTENTION_MASK, TensorProto.INT64, [1, "prefill_total_length"])
    return lengths_from_mask(edit, io_names.PREFILL_ATTENTION_MASK, "mixed")


def _split_attention(
    edit: GraphEdit, node: onnx.NodeProto, split: str, lengths: tuple[str, str], shapes: tuple[str, str]
) -> None:
    """GQA(x (1, n + T, ·)) → concat(GQA(x[:n] as (n, 1, ·)), GQA(x[n:] as (1, T, ·))) over two KV bindings; the
    decode half keeps the node's present outputs, the chunk's half writes `prefill.present.{i}.*`."""
    rows_shape, packed_shape = shapes
    decode_in, chunk_in = [], []
    for name in node.input[:3]:  # query, and key and value where they come apart (q/k norms); "" stays ""
        head, tail = edit.add("Split", [name, split], outputs=2, axis=1) if name else ("", "")
        decode_in.append(edit.add("Reshape", [head, rows_shape])[0] if name else "")
        chunk_in.append(tail)
    past, present = _chunk_kv(edit, node)
    decoded, chunked = f"{node.name}/decode", f"{node.name}/chunk"
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    for inputs, outputs, name in (
        ([*decode_in, *node.input[3:]], [decoded, *node.output[1:]], decoded),
        ([*chunk_in, *past, *lengths, *node.input[7:]], [chunked, *present], chunked),
    ):
        edit.graph.node.append(
            onnx.helper.make_node("GroupQueryAttention", inputs, outputs, name=name, domain=MS, **attrs)
        )
    (packed,) = edit.add("Reshape", [decoded, packed_shape])  # (1, n, H·D)
    (joined,) = edit.add("Concat", [packed, chunked], axis=1)  # (1, n + T, H·D)
    for reader in edit.consumers(node.output[0]):
        reader.input[list(reader.input).index(node.output[0])] = joined
    edit.graph.node.remove(node)


def _chunk_kv(edit: GraphEdit, node: onnx.NodeProto) -> tuple[list[str], list[str]]:
    """The chunk row's past and present (key, value) of `node`'s layer, added as graph inputs and outputs."""
    layer = io_names.layer_of(node.input[3])
    past = [io_names.PREFILL_PAST_KEY.format(layer), io_names.PREFILL_PAST_VALUE.format(layer)]
    present = [io_names.PREFILL_PRESENT_KEY.format(layer), io_names.PREFILL_PRESENT_VALUE.format(layer)]
    edit.graph.input.extend(_batch_of_one(edit, node.input[3 + k], past[k]) for k in (0, 1))
    edit.graph.output.extend(_batch_of_one(edit, node.output[1 + k], present[k]) for k in (0, 1))
    return past, present


def _batch_of_one(edit: GraphEdit, source: str, name: str) -> onnx.ValueInfoProto:
    """A graph input or output named `name` with the type of the graph input or output `source`, batch 1."""
    info = next(v for v in [*edit.graph.input, *edit.graph.output] if v.name == source)
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(info)
    copy.name = name
    copy.type.tensor_type.shape.dim[0].dim_value = 1  # replaces the dim_param (a oneof)
    return copy


def _logits_at_positions(edit: GraphEdit) -> None:
    """Slice(hidden, −logits_to_keep) → Gather(hidden, logit_positions, axis 1); logits (1, K, V)."""
    edit.add_input(io_names.LOGIT_POSITIONS, TensorProto.INT64, ["logit_positions"])
    (count,) = edit.add("Shape", [io_names.LOGIT_POSITIONS])  # (1,) K
    readers = edit.consumers(io_names.LOGITS_TO_KEEP)
    if not any(r.op_type == "Neg" for r in readers):
        raise AssertionError("the lm_head's Slice by logits_to_keep (passes.last_token_logits) was not found")
    for reader in readers:
        if reader.op_type == "Neg":  # −n, the Slice's start: the Slice and the Neg are pruned, unread
            (last,) = edit.consumers(reader.output[0])
            (gathered,) = edit.add("Gather", [last.input[0], io_names.LOGIT_POSITIONS], axis=1)  # (1, K, hidden)
            for after in edit.consumers(last.output[0]):
                after.input[list(after.input).index(last.output[0])] = gathered
        else:  # the logits' shape (B, n, V)
            reader.input[list(reader.input).index(io_names.LOGITS_TO_KEEP)] = count
    for out in edit.graph.output:
        if out.name == io_names.LOGITS:
            out.type.tensor_type.shape.dim[1].dim_param = "logit_positions"
