"""The memory floor of decoding: weight bytes read per token (from an ONNX graph or a torch model) and the
machine's memory read bandwidth.

Run as a script, it measures the bandwidth and prints one JSON object; `compare.py` runs it in a subprocess so that
it can unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (read by OpenBLAS when numpy loads) for this measurement only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Ops that multiply activations by weights: every initializer they read (weights, block scales, zero points, bias)
# is streamed from memory once per decode step.
MATMUL_OPS = {
    "MatMul",
    "Gemm",
    "FusedMatMul",
    "FusedGemm",
    "MatMulNBits",
    "MatMulInteger",
    "MatMulIntegerToFloat",
    "DynamicQuantizeMatMul",
    "QGemm",
    "QLinearMatMul",
}
# Ops between an initializer and a matmul that only change its layout or type (a tied lm_head behind a Transpose).
PASS_THROUGH = {"Transpose", "Cast", "Reshape", "Identity", "DequantizeLinear", "Squeeze", "Unsqueeze"}
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def matmul_weight_bytes(onnx_path: Path) -> int:
    """Bytes of all initializers that MatMul/Gemm-like nodes of the main graph read (directly or through a
    Transpose/Cast/...), each counted once: a tied embedding counts once, for the lm_head; a table only a Gather
    reads (the input embedding) does not count.
    """
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    sizes = {t.name: _tensor_bytes(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    found: set[str] = set()
    for node in graph.node:
        if node.op_type in MATMUL_OPS:
            for name in node.input:
                found |= _initializers_behind(name, sizes, producer)
    return sum(sizes[n] for n in found)


def _initializers_behind(name: str, sizes: dict, producer: dict, depth: int = 0) -> set[str]:
    if name in sizes:
        return {name}
    node = producer.get(name)
    if node is None or node.op_type not in PASS_THROUGH or depth > 8:
        return set()
    data = node.input if node.op_type == "DequantizeLinear" else node.input[:1]  # not a Reshape's shape
    return set().union(*(_initializers_behind(i, sizes, producer, depth + 1) for i in data if i))


def _tensor_bytes(tensor) -> int:
    from onnx import TensorProto, helper

    n = 1
    for d in tensor.dims:
        n *= d
    if tensor.data_type in (TensorProto.INT4, TensorProto.UINT4):
        return (n + 1) // 2
    return n * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize


def torch_weight_bytes(model) -> int:
    """Bytes of every nn.Linear weight (and bias) of a torch model, each tensor once (a tied lm_head once)."""
    import torch

    seen: dict[int, int] = {}
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            for p in (module.weight, module.bias):
                if p is not None:
                    seen[p.data_ptr()] = p.numel() * p.element_size()
    return sum(seen.values())


def measure_bandwidth_subprocess(gib: float, rounds: int) -> dict:
    """Run this file's bandwidth measurement in a fresh interpreter with the OpenBLAS overrides unset."""
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--gib", str(gib), "--rounds", str(rounds)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    result["unset"] = [k for k in OPENBLAS_VARS if k in os.environ]
    return result


def measure_bandwidth(gib: float, rounds: int) -> dict:
    """Best read bandwidth (GB/s, 1e9 bytes) streaming a `gib`-GiB float32 buffer, over several methods:
    numpy max and BLAS dot (x·x reads x once), each on 1 thread and on one thread per core over disjoint slices
    (numpy releases the GIL in both). Reductions like sum() are slower than the memory here, so they are not used.
    """
    import numpy as np

    a = np.empty(int(gib * (1 << 30)) // 4, np.float32)  # (N,)
    a.fill(1.0)  # touch every page before timing
    cores = os.cpu_count() or 1
    methods = {"numpy max": np.max, "BLAS dot (x·x)": lambda x: np.dot(x, x)}
    results = []
    for label, fn in methods.items():
        for threads in sorted({1, cores}):
            parts = np.array_split(a, threads)
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(fn, parts))  # warm
                best = 0.0
                for _ in range(rounds):
                    start = time.perf_counter()
                    list(pool.map(fn, parts))
                    best = max(best, a.nbytes / (time.perf_counter() - start) / 1e9)
            results.append({"method": f"{label}, {threads} thread{'s' if threads > 1 else ''}", "gb_per_s": best})
    top = max(results, key=lambda r: r["gb_per_s"])
    return {"gb_per_s": top["gb_per_s"], "method": top["method"], "bytes": a.nbytes, "rounds": rounds, "all": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="buffer size in GiB")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes per method (the best counts)")
    args = parser.parse_args()
    print(json.dumps(measure_bandwidth(args.gib, args.rounds)))


if __name__ == "__main__":
    main()
