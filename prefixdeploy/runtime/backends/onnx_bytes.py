"""Tiny ONNX graphs written as protobuf bytes by hand: the KV buffers' copy, split and fill graphs (`ort_kv.py`).

The runtime must not import onnx (tests/runtime/test_no_torch.py), and these graphs are a few nodes of standard ops,
so they are encoded here from onnx.proto's field numbers (protobuf's wire format: a varint tag `field << 3 | wire
type`, then a varint or a length-delimited payload). tests/runtime/test_onnx_bytes.py checks them with onnx's own
checker. Must not import torch.
"""

from __future__ import annotations

import numpy as np

IR_VERSION = 8  # ONNX Runtime ≥ 1.10 reads it
OPSET = 17  # Identity, Split (equal parts without a `split` input), Expand: as in every opset since 13

# TensorProto.DataType for the dtypes a KV buffer can have (and the int64 shapes the fill graph takes)
ELEM_TYPES = {np.dtype(np.float32): 1, np.dtype(np.float16): 10, np.dtype(np.int64): 7}

_VARINT, _BYTES = 0, 2


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | str | bytes) -> bytes:
    """One field: an int as a varint, a str or bytes (a nested message) length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3 | _VARINT) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | _BYTES) + _varint(len(data)) + data


def _value_info(name: str, dtype: np.dtype, dims: list[int | str]) -> bytes:
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: {value=1|param=2}}}}}"""
    shape = b"".join(_field(1, _field(2 if isinstance(d, str) else 1, d)) for d in dims)
    tensor = _field(1, ELEM_TYPES[np.dtype(dtype)]) + _field(2, shape)
    return _field(1, name) + _field(2, _field(1, tensor))


def _node(op_type: str, inputs: list[str], outputs: list[str]) -> bytes:
    """NodeProto{input=1, output=2, name=3, op_type=4}"""
    names = b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs)
    return names + _field(3, f"{op_type}_{outputs[0]}") + _field(4, op_type)


def _model(name: str, nodes: list[bytes], inputs: list[bytes], outputs: list[bytes]) -> bytes:
    """ModelProto{ir_version=1, producer_name=2, graph=7: GraphProto{node=1, name=2, input=11, output=12},
    opset_import=8: {domain=1 (empty: ONNX), version=2}}"""
    graph = b"".join(_field(1, n) for n in nodes) + _field(2, name)
    graph += b"".join(_field(11, i) for i in inputs) + b"".join(_field(12, o) for o in outputs)
    return _field(1, IR_VERSION) + _field(2, "prefixdeploy") + _field(7, graph) + _field(8, _field(2, OPSET))


def copy_graph(count: int, dtype: np.dtype) -> bytes:
    """`count` independent copies: outputs dst_i = Identity(src_i), each a 1-D run of any length of `dtype`."""
    inputs = [_value_info(f"src_{i}", dtype, [f"n_{i}"]) for i in range(count)]
    outputs = [_value_info(f"dst_{i}", dtype, [f"n_{i}"]) for i in range(count)]
    nodes = [_node("Identity", [f"src_{i}"], [f"dst_{i}"]) for i in range(count)]
    return _model("prefixdeploy_copy", nodes, inputs, outputs)


def split_graph(count: int, dtype: np.dtype) -> bytes:
    """`count` rows of one input src (count, n) into outputs dst_i (1, n) (Split into equal parts along axis 0)."""
    inputs = [_value_info("src", dtype, [count, "n"])]
    outputs = [_value_info(f"dst_{i}", dtype, [1, "n"]) for i in range(count)]
    return _model("prefixdeploy_split", [_node("Split", ["src"], [f"dst_{i}" for i in range(count)])], inputs, outputs)


def fill_graph(dtype: np.dtype) -> bytes:
    """out = Expand(value, shape): a 1-D run of `shape[0]` copies of the scalar `value` of `dtype`."""
    inputs = [_value_info("value", dtype, []), _value_info("shape", np.int64, [1])]
    outputs = [_value_info("out", dtype, ["n"])]
    return _model("prefixdeploy_fill", [_node("Expand", ["value", "shape"], ["out"])], inputs, outputs)
