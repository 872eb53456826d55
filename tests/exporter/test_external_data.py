"""External weight data: large tensors start on a page (ONNX Runtime maps them instead of copying), values intact."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from prefixdeploy.exporter.external_data import PAGE, SIZE_THRESHOLD, save_with_aligned_data


def external_offsets(path) -> dict[str, tuple[int, int]]:
    """name -> (offset, length) of every initializer of the .onnx file at `path` that lives in a data file."""
    model = onnx.load_model(str(path), load_external_data=False)
    infos = {t.name: ExternalDataInfo(t) for t in model.graph.initializer if uses_external_data(t)}
    return {name: (info.offset or 0, info.length) for name, info in infos.items()}


def test_large_tensors_start_on_a_page_and_load_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    sizes = {"small": 100, "medium": 700, "large": 1500, "larger": 5000}  # float32 values: 400 B … 20 kB
    weights = {name: rng.standard_normal(n).astype(np.float32) for name, n in sizes.items()}
    as_int64 = helper.make_tensor("typed", TensorProto.INT64, [600], list(range(600)))  # int64_data, not raw_data
    nodes = [helper.make_node("Identity", [name], [f"out.{name}"]) for name in [*weights, "typed"]]
    outputs = [helper.make_tensor_value_info(f"out.{name}", TensorProto.FLOAT, None) for name in weights]
    outputs.append(helper.make_tensor_value_info("out.typed", TensorProto.INT64, None))
    inits = [numpy_helper.from_array(w, name) for name, w in weights.items()] + [as_int64]
    model = helper.make_model(helper.make_graph(nodes, "g", [], outputs, inits))
    save_with_aligned_data(model, tmp_path / "m.onnx")

    offsets = external_offsets(tmp_path / "m.onnx")
    assert "small" not in offsets  # under SIZE_THRESHOLD: stays in the .onnx file
    assert all(length >= SIZE_THRESHOLD for _, length in offsets.values())
    assert offsets["larger"][0] % PAGE == 0 and offsets["typed"][0] % PAGE == 0  # 20 kB and 4.8 kB: on a page
    assert offsets["medium"][0] % 64 == 0  # 2.8 kB: packed, 64-byte aligned
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {})))
    for name, w in weights.items():
        np.testing.assert_array_equal(got[f"out.{name}"], w)
    np.testing.assert_array_equal(got["out.typed"], np.arange(600))


def test_every_graph_of_a_bundle_keeps_its_large_weights_on_pages(tiny_bundle):
    bundle = tiny_bundle("switchable")
    for graph in bundle.glob("*.onnx"):
        offsets = external_offsets(graph)
        assert any(length >= PAGE for _, length in offsets.values()), graph.name
        assert all(offset % PAGE == 0 for offset, length in offsets.values() if length >= PAGE), graph.name


def test_keep_weights_leaves_the_model_as_it_was(tmp_path):
    """The exporter derives the ONNX Runtime graphs from the portable graph it just saved, without building it again."""
    w = np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    node = helper.make_node("Identity", ["w"], ["y"])
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph.initializer.append(numpy_helper.from_array(w, "w"))
    model = helper.make_model(graph)
    before = model.SerializeToString()
    save_with_aligned_data(model, tmp_path / "kept.onnx", keep_weights=True)
    assert model.SerializeToString() == before
    assert "w" in external_offsets(tmp_path / "kept.onnx")
    save_with_aligned_data(model, tmp_path / "moved.onnx")
    assert uses_external_data(model.graph.initializer[0])
    assert (tmp_path / "kept.onnx.data").read_bytes() == (tmp_path / "moved.onnx.data").read_bytes()
