"""One matmul of SmolLM2's shapes in each of ONNX Runtime's CPU kernels, at the row counts a server runs: how each
kernel's cost grows with rows (why int8's dynamic recipe exists: docs/quantization.md).

Kernels: float32 MatMul; MatMulNBits at 4 and 8 bits (blocks of 32, accuracy level 4: what int4 and int8 blocks
graphs run); DynamicQuantizeMatMul (int8 dynamic). Weights are random, quantized with the exporter's own code; each
cell is the best of 5 timed batches of calls on one session with `--threads` intra-op threads.

    python benchmarks/matmul_kernels.py [--rows 1,8,16,56] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from prefixdeploy.exporter.optimize.dynamic import column_int8
from prefixdeploy.exporter.optimize.nbits import pack, quantize_blocks

SHAPES = {"qkv/gate_up-like (576 → 1536)": (576, 1536), "down (1536 → 576)": (1536, 576), "lm_head": (576, 49152)}
BLOCK = 32


def graph(op: str, inits: dict[str, np.ndarray], k: int, n: int, domain: str = "", **attrs) -> onnx.ModelProto:
    node = helper.make_node(op, ["x", *inits], ["y"], domain=domain, **attrs)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", k])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", n])]
    weights = [numpy_helper.from_array(value, name) for name, value in inits.items()]
    body = helper.make_graph([node], op, inputs, outputs, weights)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(body, opset_imports=opsets)


def kernels(w: np.ndarray) -> dict[str, onnx.ModelProto]:
    k, n = w.shape
    out = {"fp32 MatMul": graph("MatMul", {"w": w}, k, n)}
    for bits in (4, 8):
        blocks = quantize_blocks(w, bits, BLOCK)
        b, zp = pack(blocks, bits)
        inits = {"b": b, "s": blocks.scales.reshape(-1), "z": zp}
        attrs = {"K": k, "N": n, "bits": bits, "block_size": BLOCK, "accuracy_level": 4}
        out[f"MatMulNBits {bits}-bit"] = graph("MatMulNBits", inits, k, n, "com.microsoft", **attrs)
    codes, scales = column_int8(w)
    out["DynamicQuantizeMatMul"] = graph("DynamicQuantizeMatMul", {"b": codes, "s": scales}, k, n, "com.microsoft")
    return out


def time_us(session: ort.InferenceSession, x: np.ndarray, calls: int) -> float:
    for _ in range(3):
        session.run(None, {"x": x})
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            session.run(None, {"x": x})
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="1,8,16,56")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    rows = [int(r) for r in args.rows.split(",")]
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    rng = np.random.default_rng(0)
    print("| weight | kernel | " + " | ".join(f"{r} rows (µs)" for r in rows) + " |")
    print("|---|---|" + "---:|" * len(rows))
    for label, (k, n) in SHAPES.items():
        w = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
        for name, model in kernels(w).items():
            session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
            calls = 20 if n > 10_000 else 200
            cells = [time_us(session, rng.standard_normal((r, k)).astype(np.float32), calls) for r in rows]
            print(f"| {label} | {name} | " + " | ".join(f"{c:.0f}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
