"""Activation statistics of the float graph for int8's dynamic recipe: one run over a calibration text.

The portable graph (switchable, float32) runs once, from an empty cache and without a prefix, with the per-channel
maxima of the values asked for as its only outputs (Abs → ReduceMax in the graph, so a long text costs no more
memory than its activations).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from prefixdeploy.exporter.optimize.edit import GraphEdit
from prefixdeploy.runtime import manifest as io_names


def input_maxima(
    portable: onnx.ModelProto, inputs: dict[str, str], feeds: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """{key: max |x_j| per channel (I,)} for each graph value x (B, T, I) of `inputs` ({key: value name}), over one
    run of `portable` on `feeds` (ONNX Runtime, CPU)."""
    import onnxruntime as ort

    if not inputs:
        return {}  # a graph without outputs is not a graph

    model = onnx.ModelProto()
    model.CopyFrom(portable)
    edit = GraphEdit(model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    del model.graph.output[:]
    for key, value in inputs.items():
        (magnitude,) = edit.add("Abs", [value])
        if opset >= 18:  # ReduceMax took its axes as an attribute before opset 18
            (peak,) = edit.add("ReduceMax", [magnitude, edit.initializer(f"{key}/axes", np.array([0, 1]))], keepdims=0)
        else:
            (peak,) = edit.add("ReduceMax", [magnitude], axes=[0, 1], keepdims=0)
        model.graph.output.append(helper.make_tensor_value_info(peak, onnx.TensorProto.FLOAT, None))
    edit.prune()
    with tempfile.TemporaryDirectory() as tmp:  # a file: protobuf cannot hold a model over 2 GB in one message
        path = Path(tmp) / "calibration.onnx"
        onnx.save_model(model, str(path), save_as_external_data=True, location="calibration.onnx.data")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        peaks = session.run(None, feeds)
    return dict(zip(inputs, peaks))


def empty_cache_feeds(model: onnx.ModelProto, ids: Sequence[int]) -> dict[str, np.ndarray]:
    """Feeds for one row of tokens `ids` from an empty cache: the ids, a mask of ones, positions 0..T-1, and every
    past (1, H_kv, 0, D)."""
    if not len(ids):
        raise ValueError("the calibration text has no tokens")
    T = len(ids)
    known = {
        io_names.INPUT_IDS: np.array([ids], np.int64),  # (1, T)
        io_names.ATTENTION_MASK: np.ones((1, T), np.int64),
        io_names.POSITION_IDS: np.arange(T, dtype=np.int64)[None],
    }
    feeds = {}
    for value in model.graph.input:
        if value.name in known:
            feeds[value.name] = known[value.name]
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in value.type.tensor_type.shape.dim]
        dims[0] = 1  # the batch
        feeds[value.name] = np.zeros(dims, helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
    return feeds
