"""ONNX Runtime backend: an InferenceSession behind the shared backend surface. Must not import torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from prefixdeploy.runtime.backends.base import Backend, TensorSpec

_DTYPES = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(bool)": np.dtype(np.bool_),
}


def _spec(arg) -> TensorSpec:
    return TensorSpec(arg.name, _DTYPES[arg.type], tuple(arg.shape))


class OrtBackend(Backend):
    def __init__(self, model_path: str | Path, providers: list[str] | None = None, threads: int = 0):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads  # 0: one per physical core
        self.session = ort.InferenceSession(str(model_path), options, providers=providers or ["CPUExecutionProvider"])
        self.inputs = [_spec(a) for a in self.session.get_inputs()]
        self.outputs = [_spec(a) for a in self.session.get_outputs()]

    def _run(self, feeds, outputs=None):
        names = outputs or [spec.name for spec in self.outputs]
        return dict(zip(names, self.session.run(names, feeds)))

    def close(self) -> None:
        self.session = None
