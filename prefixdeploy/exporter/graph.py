"""A small ONNX graph builder over `onnx.helper`: named nodes in scopes, numpy initializers, opset-aware helpers.

The decoder graph (`decoder.py`) is written with it using standard ONNX ops only (opset 17–20), so that ONNX Runtime,
TensorRT and any generic consumer can run it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MIN_OPSET, MAX_OPSET = 17, 20

FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
Dim = int | str


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs; `op` returns the output name(s) of the node it adds."""

    def __init__(self, name: str, opset: int = MIN_OPSET):
        if not MIN_OPSET <= opset <= MAX_OPSET:
            raise ValueError(f"opset {opset} is outside the supported {MIN_OPSET}–{MAX_OPSET}")
        self.name, self.opset = name, opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._scope: list[str] = []
        self._counts: dict[str, int] = {}
        self._consts: dict[tuple, str] = {}

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Prefix node names (`/layers.3/attn/MatMul_0`) the way torch.onnx does, so passes can find blocks."""
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()

    def _unique(self, base: str) -> str:
        prefix = "/" + "/".join(self._scope) + "/" if self._scope else "/"
        key = prefix + base
        n = self._counts.get(key, 0)
        self._counts[key] = n + 1
        return f"{key}_{n}" if n else key

    def op(self, op_type: str, *inputs: str, outputs: int = 1, name: str | None = None, domain: str = "", **attrs):
        node_name = self._unique(name or op_type)
        outs = [f"{node_name}/output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=node_name, domain=domain, **attrs))
        return outs[0] if outputs == 1 else outs

    def initializer(self, name: str, array: np.ndarray) -> str:
        # asarray, not ascontiguousarray: that one returns at least 1-d, and TensorRT needs true rank-0 scalars (a
        # Range's start and delta; onnx-tensorrt builds them into shape-tensor arithmetic of equal ranks).
        self.initializers.append(numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def const(self, value, dtype=np.int64) -> str:
        """A small constant (shape vectors; a Python number gives a rank-0 scalar), shared between equal uses."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            self._consts[key] = self.initializer(f"const_{len(self._consts)}", array)
        return self._consts[key]

    def input(self, name: str, elem_type: int, shape: Sequence[Dim]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def output(self, value: str, name: str, elem_type: int, shape: Sequence[Dim]) -> None:
        self.nodes.append(helper.make_node("Identity", [value], [name], name=f"/output/{name}"))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))

    # -- opset-aware helpers ------------------------------------------------------------------------------------------

    def reduce_mean(self, x: str, axes: Sequence[int], keepdims: int = 1) -> str:
        if self.opset >= 18:
            return self.op("ReduceMean", x, self.const(list(axes)), keepdims=keepdims)
        return self.op("ReduceMean", x, axes=list(axes), keepdims=keepdims)

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Unsqueeze", x, self.const(list(axes)))

    def reshape(self, x: str, shape: Sequence[int] | str) -> str:
        return self.op("Reshape", x, shape if isinstance(shape, str) else self.const(list(shape)))

    def dim(self, x: str, axis: int) -> str:
        """The size of `x` along `axis`, as a 1-element int64 tensor."""
        bounds = {"start": axis} if axis == -1 else {"start": axis, "end": axis + 1}
        return self.op("Shape", x, **bounds)

    def scalar_dim(self, x: str, axis: int) -> str:
        """The size of `x` along `axis`, as a rank-0 int64 scalar (TensorRT's Range wants scalars)."""
        return self.op("Squeeze", self.dim(x, axis), self.const([0]))  # axes given: TensorRT needs them constant

    def to_model(self, producer: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", self.opset)],
            producer_name=producer,
            ir_version=8 if self.opset <= 18 else 9,  # the lowest IR version each opset allows: widest reach
        )
        return model
