"""The runtime's hand-written ONNX graphs (copy, split, fill) are valid ONNX to onnx's own checker and do their job."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from prefixdeploy.runtime.backends.onnx_bytes import copy_graph, fill_graph, split_graph

DTYPES = (np.float32, np.float16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("graph", [lambda d: copy_graph(3, d), lambda d: split_graph(4, d), fill_graph])
def test_graphs_pass_onnx_s_full_check(graph, dtype):
    model = onnx.load_from_string(graph(dtype))
    onnx.checker.check_model(model, full_check=True)  # full_check: shape and type inference too
    assert model.opset_import[0].version == 17 and model.ir_version == 8


def session(graph: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(graph, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_each_graph_copies_splits_or_fills(dtype):
    runs = [np.arange(n, dtype=dtype) for n in (1, 5, 1000)]
    copied = session(copy_graph(3, dtype)).run(None, {f"src_{i}": r for i, r in enumerate(runs)})
    assert all(np.array_equal(a, b) and a.dtype == dtype for a, b in zip(copied, runs))
    rows = np.arange(12, dtype=dtype).reshape(4, 3)
    assert np.array_equal(np.concatenate(session(split_graph(4, dtype)).run(None, {"src": rows})), rows)
    (filled,) = session(fill_graph(dtype)).run(None, {"value": np.array(2.5, dtype), "shape": np.array([7])})
    assert filled.dtype == dtype and filled.tolist() == [2.5] * 7
