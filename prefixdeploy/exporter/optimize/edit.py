"""Small editing helpers over an onnx ModelProto: find nodes by the weights they read, add nodes, prune dead ones."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


class GraphEdit:
    """Edits `model.graph` in place. Node lookups are by the initializer a node reads (stable, named by us)."""

    def __init__(self, model: onnx.ModelProto):
        self.model, self.graph = model, model.graph
        self._n = 0

    def node_reading(self, initializer: str, op_type: str | None = None) -> onnx.NodeProto | None:
        for node in self.graph.node:
            if initializer in node.input and (op_type is None or node.op_type == op_type):
                return node
        return None

    def consumers(self, value: str) -> list[onnx.NodeProto]:
        return [n for n in self.graph.node if value in n.input]

    def producer(self, value: str) -> onnx.NodeProto | None:
        return next((n for n in self.graph.node if value in n.output), None)

    def output_identity(self, name: str) -> onnx.NodeProto:
        """The Identity node that feeds graph output `name` (the builder ends every output with one)."""
        return next(n for n in self.graph.node if name in n.output)

    def add(self, op_type: str, inputs: list[str], outputs: int = 1, domain: str = "", **attrs) -> list[str]:
        self._n += 1
        name = f"/optimized/{op_type}_{self._n}"
        outs = [f"{name}/output_{i}" for i in range(outputs)]
        self.graph.node.append(helper.make_node(op_type, inputs, outs, name=name, domain=domain, **attrs))
        return outs

    def initializer(self, name: str, array: np.ndarray) -> str:
        self.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def find_initializer(self, name: str) -> onnx.TensorProto | None:
        return next((t for t in self.graph.initializer if t.name == name), None)

    def add_input(self, name: str, elem_type: int, shape: list) -> None:
        self.graph.input.append(helper.make_tensor_value_info(name, elem_type, shape))

    def prune(self) -> None:
        """Drop nodes whose outputs nothing reads, then inputs and initializers nothing reads; topologically sort."""
        live = {o.name for o in self.graph.output}
        keep: list[onnx.NodeProto] = []
        for node in reversed(self._sorted()):
            if any(o in live for o in node.output):
                keep.append(node)
                live.update(i for i in node.input if i)
        del self.graph.node[:]
        self.graph.node.extend(reversed(keep))
        for field in (self.graph.input, self.graph.initializer):
            kept = [x for x in field if x.name in live]
            del field[:]
            field.extend(kept)

    def _sorted(self) -> list[onnx.NodeProto]:
        """Nodes in topological order (Kahn); added nodes may have been appended after their consumers."""
        nodes = list(self.graph.node)
        made_by = {out: k for k, n in enumerate(nodes) for out in n.output if out}  # "": an omitted output
        waiting = [0] * len(nodes)
        readers: dict[int, list[int]] = {}
        for k, node in enumerate(nodes):
            deps = {made_by[i] for i in node.input if i in made_by}
            waiting[k] = len(deps)
            for d in deps:
                readers.setdefault(d, []).append(k)
        queue = [k for k, w in enumerate(waiting) if w == 0]
        order = []
        while queue:
            k = queue.pop()
            order.append(nodes[k])
            for r in readers.get(k, []):
                waiting[r] -= 1
                if waiting[r] == 0:
                    queue.append(r)
        if len(order) != len(nodes):
            raise AssertionError("the graph has a cycle")
        return order
