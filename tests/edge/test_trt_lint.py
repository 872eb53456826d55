"""The TensorRT lint over the portable graph of every family and mode, and the lint's own teeth.

TensorRT cannot be installed here; this is the check that runs in CI instead: every op, dtype and attribute against
onnx-tensorrt's operator table (tensorrt_ops.py), and the scalar and shape-tensor ranks its importer asserts.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from trt_lint import lint

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.exporter.graph import FLOAT, INT64, GraphBuilder

FAMILIES = ("gpt2", "llama", "mistral", "qwen2", "qwen3", "llama3", "gemma3_text", "gemma2", "phi3", "granite")
MODES = ("switchable", "baked", "bank")


@pytest.fixture(scope="module")
def portable_graph(tiny_model_dir, peft_adapter, tmp_path_factory):
    """portable_graph(kind, mode) -> the bundle's model.onnx, loaded without its weights."""

    def get(kind: str, mode: str) -> onnx.ModelProto:
        specs = (f"summ={peft_adapter(kind, 5, seed=1)}", f"qa={peft_adapter(kind, 8, seed=2)}")
        out = tmp_path_factory.mktemp(f"lint-{kind}-{mode}") / "bundle"
        config = ExportConfig(
            str(tiny_model_dir(kind)),
            specs[:1] if mode == "baked" else specs,
            out,
            mode="switchable" if mode == "switchable" else "baked",
            precisions=(),
        )
        return onnx.load_model(str(export_bundle(config) / "model.onnx"), load_external_data=False)

    return get


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", FAMILIES)
def test_portable_graph_passes_the_tensorrt_lint(portable_graph, kind, mode):
    model = portable_graph(kind, mode)
    assert lint(model) == []
    assert any(node.op_type == "Range" for node in model.graph.node)  # the lint saw what it is there for


def _range_graph(start: np.ndarray) -> onnx.ModelProto:
    b = GraphBuilder("range")
    x = b.input("x", INT64, ["n"])
    limit = b.scalar_dim(x, 0)
    b.output(b.op("Cast", b.op("Range", b.initializer("start", start), limit, b.const(1)), to=FLOAT), "y", FLOAT, ["n"])
    return b.to_model("test")


def test_a_one_element_range_start_is_refused():
    """What every bundle had before the fix: np.ascontiguousarray turned the scalar start into shape (1,)."""
    assert lint(_range_graph(np.array(0, np.int64))) == []
    problems = lint(_range_graph(np.array([0], np.int64)))
    assert len(problems) == 1 and "must be rank 0 (scalars); their ranks are [1, 0, 0]" in problems[0], problems


def test_ops_dtypes_attributes_domains_and_restrictions_are_checked():
    b = GraphBuilder("bad")
    x = b.input("x", FLOAT, [2, 3])
    y = b.op("BitShift", b.op("Cast", x, to=onnx.TensorProto.UINT8), b.const(1, np.uint8), direction="LEFT")
    z = b.op("Cast", x, to=onnx.TensorProto.DOUBLE)  # DOUBLE is not among Cast's types
    w = b.op("Squeeze", b.op("Unsqueeze", x, b.op("Identity", b.const([0]))))  # axes computed; Squeeze without axes
    v = b.op("MatMul", x, b.initializer("w", np.zeros((3, 3), np.float32)), transA=1)  # no such attribute
    s = b.op("FastGelu", x, domain="com.microsoft")
    c = b.op("CumSum", x, b.op("Identity", b.const(1)))  # a computed axis
    n = b.op("CumSum", b.op("Cast", x, to=onnx.TensorProto.INT64), b.const(1))  # integers
    for i, (out, dtype) in enumerate(((y, onnx.TensorProto.UINT8), (z, onnx.TensorProto.DOUBLE), (w, FLOAT))):
        b.output(out, f"o{i}", dtype, [2, 3])
    b.output(v, "o3", FLOAT, [3, 3])
    b.output(s, "o4", FLOAT, [2, 3])
    b.output(c, "o5", FLOAT, [2, 3])
    b.output(n, "o6", INT64, [2, 3])
    model = b.to_model("test")
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    found = "\n".join(lint(model))
    for needle in (
        "opset domain 'com.microsoft'",
        "domain 'com.microsoft' is not the standard ONNX domain",
        "TensorRT does not support BitShift",
        "casts to DOUBLE",
        "axes /Identity/output_0 must be an initializer",
        "Squeeze /Squeeze: give axes",
        "attribute transA is not in the ONNX schema",
        "CumSum /CumSum: axis /Identity_1/output_0 must be an initializer",
        "CumSum /CumSum_1: input /Cast_2/output_0 is INT64",
    ):
        assert needle in found, found
