"""A TensorRT lint for ONNX graphs: what TensorRT 10's ONNX parser would refuse, found without TensorRT or a GPU.

Checks, each against the committed table `tensorrt_ops.py` (onnx-tensorrt's docs/operators.md) or against what
onnx-tensorrt's importer sources assert (branch 10.1-GA: onnxOpImporters.cpp, ShapeTensor.cpp):
- the standard ONNX domain only, at an opset TensorRT supports;
- every op in the table, every input's dtype (and Cast's target) among the op's supported types, graph I/O dtypes
  that can be network I/O, every attribute one the op's ONNX schema defines, and the table's restrictions on the
  ops a graph uses (a restriction this lint cannot check is itself reported, so a new op cannot slip past);
- Range's start, limit and delta: rank 0 and of one dtype (the importer computes the element count with shape-tensor
  arithmetic that asserts equal ranks, then `convertTo1D` asserts rank 0);
- shape-tensor inputs (Reshape's shape, Expand's shape, Slice's starts/ends/axes/steps, Split's split, axes):
  rank 1 (a ShapeTensor is rank 0 or 1; these are 1-D by the ONNX spec);
- tensor ranks within TensorRT's limit of 8 (nvinfer1::Dims::MAX_DIMS).
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, shape_inference
from tensorrt_ops import OPSET_RANGE, SUPPORTED, UNSUPPORTED

MAX_RANK = 8
TYPE_NAMES = {
    TensorProto.FLOAT: "FP32",
    TensorProto.FLOAT16: "FP16",
    TensorProto.BFLOAT16: "BF16",
    TensorProto.INT32: "INT32",
    TensorProto.INT64: "INT64",
    TensorProto.INT8: "INT8",
    TensorProto.UINT8: "UINT8",
    TensorProto.BOOL: "BOOL",
}
NETWORK_IO_TYPES = {"FP32", "FP16", "BF16", "INT32", "INT64", "INT8", "UINT8", "BOOL"}

# Inputs TensorRT reads as shape tensors, by op: index -> what it is. Each must be rank 1.
SHAPE_INPUTS = {
    "Reshape": {1: "shape"},
    "Expand": {1: "shape"},
    "Tile": {1: "repeats"},
    "ConstantOfShape": {0: "input"},
    "Slice": {1: "starts", 2: "ends", 3: "axes", 4: "steps"},
    "Split": {1: "split"},
    "Squeeze": {1: "axes"},
    "Unsqueeze": {1: "axes"},
    **{f"Reduce{r}": {1: "axes"} for r in ("Mean", "Sum", "Max", "Min", "Prod", "L1", "L2", "LogSum", "SumSquare")},
}

# Inputs that index rather than carry data: ONNX types them int32/int64 whatever the op's data types are.
INDEX_INPUTS = {"CumSum": {1: "axis"}}


def _axes_constant(node: onnx.NodeProto, index: int, constants: set[str]) -> str | None:
    if any(a.name == "axes" for a in node.attribute):  # an attribute before opset 13 (Squeeze) or 18 (Reduce*)
        return None
    if len(node.input) <= index or not node.input[index]:
        return None if node.op_type == "Slice" else f"{node.op_type} {node.name}: give axes (TensorRT needs them)"
    if node.input[index] not in constants:
        return f"{node.op_type} {node.name}: axes {node.input[index]} must be an initializer"
    return None


def _axis_constant(node: onnx.NodeProto, constants: set[str]) -> str | None:
    if node.input[1] in constants:
        return None
    return f"{node.op_type} {node.name}: axis {node.input[1]} must be an initializer"


def _only_first_output(node: onnx.NodeProto, consumed: set[str]) -> str | None:
    extra = [o for o in node.output[1:] if o and o in consumed]
    return f"{node.op_type} {node.name}: only the first output is supported; {extra} are read" if extra else None


# The table's restriction texts this lint checks, with the check. A restriction not listed here fails the lint.
RESTRICTION_CHECKS = {
    "`axes` must be an initializer": lambda node, constants, consumed: _axes_constant(
        node, 3 if node.op_type == "Slice" else 1, constants
    ),
    "`axes` must be a constant tensor": lambda node, constants, consumed: _axes_constant(node, 1, constants),
    "Only the first output `Y` is supported.": lambda node, constants, consumed: _only_first_output(node, consumed),
    "`axis` must be an initializer": lambda node, constants, consumed: _axis_constant(node, constants),
}


def lint(model: onnx.ModelProto) -> list[str]:
    """Every reason TensorRT 10's ONNX parser would refuse `model` (weights may stay external); [] if none."""
    inferred = shape_inference.infer_shapes(model)  # a tensor left without a dtype is reported
    graph = inferred.graph
    problems = _opset_problems(model)
    types: dict[str, tuple[int, int | None]] = {}  # name -> (elem_type, rank or None)
    for info in [*graph.input, *graph.output, *graph.value_info]:
        tensor = info.type.tensor_type
        types[info.name] = (tensor.elem_type, len(tensor.shape.dim) if tensor.HasField("shape") else None)
    for init in graph.initializer:
        types[init.name] = (init.data_type, len(init.dims))
    for info in [*graph.input, *graph.output]:
        if TYPE_NAMES.get(types[info.name][0]) not in NETWORK_IO_TYPES:
            problems.append(f"graph I/O {info.name} has dtype {_type_name(types[info.name][0])}")
    problems += [f"{name} has rank {rank} > {MAX_RANK}" for name, (_, rank) in types.items() if (rank or 0) > MAX_RANK]
    constants = {init.name for init in graph.initializer}
    consumed = {i for node in graph.node for i in node.input} | {o.name for o in graph.output}
    for node in graph.node:
        problems += _node_problems(node, types, constants, consumed, model.opset_import)
    return problems


def _opset_problems(model: onnx.ModelProto) -> list[str]:
    problems = []
    for opset in model.opset_import:
        if opset.domain not in ("", "ai.onnx"):
            problems.append(f"opset domain {opset.domain!r} is imported; TensorRT parses the standard domain only")
        elif not OPSET_RANGE[0] <= opset.version <= OPSET_RANGE[1]:
            problems.append(f"opset {opset.version} is outside TensorRT's {OPSET_RANGE[0]}–{OPSET_RANGE[1]}")
    return problems


def _type_name(elem_type: int) -> str:
    return TYPE_NAMES.get(elem_type, TensorProto.DataType.Name(elem_type))


def _node_problems(node, types, constants, consumed, opsets) -> list[str]:
    where = f"{node.op_type} {node.name}"
    if node.domain not in ("", "ai.onnx"):
        return [f"{where}: domain {node.domain!r} is not the standard ONNX domain"]
    if node.op_type in UNSUPPORTED or node.op_type not in SUPPORTED:
        return [f"{where}: TensorRT does not support {node.op_type}"]
    allowed, restriction = SUPPORTED[node.op_type]
    problems = []
    for index, name in enumerate(node.input):
        expected = ("INT32", "INT64") if index in INDEX_INPUTS.get(node.op_type, {}) else allowed
        if not name:
            continue
        if name not in types:
            problems.append(f"{where}: no dtype inferred for input {name}")
        elif _type_name(types[name][0]) not in expected:
            problems.append(f"{where}: input {name} is {_type_name(types[name][0])}; TensorRT takes {expected}")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Cast" and _type_name(attrs["to"]) not in allowed:
        problems.append(f"{where}: casts to {_type_name(attrs['to'])}; TensorRT takes {allowed}")
    version = next(o.version for o in opsets if o.domain in ("", "ai.onnx"))
    known = onnx.defs.get_schema(node.op_type, version).attributes
    problems += [f"{where}: attribute {a} is not in the ONNX schema" for a in attrs if a not in known]
    if restriction:
        check = RESTRICTION_CHECKS.get(restriction)
        found = check(node, constants, consumed) if check else f"{where}: unchecked restriction {restriction!r}"
        problems += [found] if found else []
    return problems + _rank_problems(node, types)


def _rank_problems(node, types) -> list[str]:
    where, problems = f"{node.op_type} {node.name}", []
    if node.op_type == "Range":
        ranks = [types.get(i, (0, None))[1] for i in node.input]
        if ranks != [0, 0, 0]:
            problems.append(f"{where}: start, limit and delta must be rank 0 (scalars); their ranks are {ranks}")
        if len({types.get(i, (0, None))[0] for i in node.input}) != 1:
            problems.append(f"{where}: start, limit and delta must have one dtype")
    for index, what in SHAPE_INPUTS.get(node.op_type, {}).items():
        if index < len(node.input) and node.input[index]:
            rank = types.get(node.input[index], (0, None))[1]
            if rank != 1:
                problems.append(f"{where}: {what} is a shape tensor for TensorRT and must be rank 1, not {rank}")
    return problems
