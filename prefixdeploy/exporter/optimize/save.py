"""Run ONNX Runtime's offline graph optimizations once and save the result next to the portable graph.

Weights the optimized graph shares with the portable graph (same bytes) point into the portable graph's external
data file instead of being written twice; equal weights within the optimized graph are written once too.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import onnx
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from prefixdeploy.exporter.external_data import append_aligned, set_location
from prefixdeploy.exporter.optimize.edit import GraphEdit

DATA_SUFFIX = ".data"


def save_optimized(
    model: onnx.ModelProto, out: Path, shared_data: Path, after: Callable[[GraphEdit], None] | None = None
) -> None:
    """Optimize `model` with ONNX Runtime (EXTENDED), apply `after` to the result (fusions ORT does not make), save."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        raw = Path(tmp) / "input.onnx"
        onnx.save_model(model, str(raw), save_as_external_data=True, location="input.onnx.data", size_threshold=1024)
        optimized = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        # EXTENDED: fusions that hold on any CPU (ALL adds layout changes specific to this machine's CPU).
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(optimized)
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", "opt.data")
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
        result = onnx.load_model(str(optimized), load_external_data=False)
        if after is not None:
            edit = GraphEdit(result)
            after(edit)
            edit.prune()
        _relink_data(result, Path(tmp), out, shared_data)


def _relink_data(model: onnx.ModelProto, src_dir: Path, out: Path, shared_data: Path) -> None:
    """Point each external initializer at `shared_data` when its bytes are there already, else at out's own file."""
    shared = {digest: (shared_data.name, *at) for digest, at in _index_by_hash(shared_data).items()}
    own_name = out.name + DATA_SUFFIX
    with (out.parent / own_name).open("wb") as own:
        for tensor in model.graph.initializer:
            if not uses_external_data(tensor):
                continue
            data = _read(src_dir / ExternalDataInfo(tensor).location, ExternalDataInfo(tensor))
            digest = hashlib.sha256(data).hexdigest()
            if digest not in shared:  # new bytes; equal bytes under another name (a reshaped view) are written once
                shared[digest] = (own_name, append_aligned(own, data), len(data))
            set_location(tensor, *shared[digest])
    onnx.save_model(model, str(out))
    if (out.parent / own_name).stat().st_size == 0:
        os.unlink(out.parent / own_name)


def _index_by_hash(data_file: Path) -> dict[str, tuple[int, int]]:
    model_file = data_file.with_suffix("")  # model.onnx.data -> model.onnx
    model = onnx.load_model(str(model_file), load_external_data=False)
    index = {}
    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            info = ExternalDataInfo(tensor)
            index[hashlib.sha256(_read(data_file, info)).hexdigest()] = (info.offset or 0, info.length)
    return index


def _read(path: Path, info: ExternalDataInfo) -> bytes:
    with path.open("rb") as f:
        f.seek(info.offset or 0)
        return f.read(info.length) if info.length else f.read()
