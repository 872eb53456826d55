"""benchmarks/matmul_kernels.py builds each kernel's one-node graph right: every kernel's product of a small random
weight is the float product within its quantization error. Speed itself is never asserted."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
from repo_root import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

# Relative error bound per kernel (measured here: fp32 1.5e-7, 8-bit blocks 0.007, dynamic 0.009, 4-bit 0.089).
BOUND = {"fp32 MatMul": 1e-5, "MatMulNBits 4-bit": 0.15, "MatMulNBits 8-bit": 0.03, "DynamicQuantizeMatMul": 0.03}


def test_every_kernel_computes_the_product():
    import matmul_kernels

    rng = np.random.default_rng(1)
    w = (rng.standard_normal((96, 40)) * 0.02).astype(np.float32)
    x = rng.standard_normal((5, 96)).astype(np.float32)
    expected = x @ w
    models = matmul_kernels.kernels(w)
    assert set(models) == set(BOUND)
    for name, model in models.items():
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"x": x})
        error = np.abs(got - expected).max() / np.abs(expected).max()
        assert error < BOUND[name], (name, error)
