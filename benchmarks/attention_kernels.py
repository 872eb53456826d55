"""One layer's decode attention at SmolLM2's shape (9 query heads over 3 kv heads of 64 dims) in two forms on ONNX
Runtime's CPU, at the row counts and lengths a server runs: what a decode attention other than GroupQueryAttention
could save, at best (docs/performance.md, "Decode attention").

- GroupQueryAttention as the exporter emits it: the packed q|k|v of n rows, rotary inside, past and present bound to
  one buffer of `--slot-length` positions (written in place), every row `L` positions long. It runs one M=1 GEMM per
  row and query head, each packing its kv head's keys again: 3 times per kv head.
- The same scores as grouped MatMuls over a cache of exactly L positions: q (n, 3, 3, 64) against k (n, 3, L, 64)
  (FusedMatMul, transB), Add of the mask, Softmax, MatMul with v: one M=3 GEMM per row and kv head. Without the KV
  write and the rotary, and only because the cache is exactly L long: the lower bound of that form, not a design.

Every round times each form once, in turn, over `--calls` calls; prints the medians over `--rounds`.

    python benchmarks/attention_kernels.py [--rows 1,8,16] [--lengths 110,300] [--threads 2] [--rounds 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HEADS, KV_HEADS, DIM, MAX_POSITIONS = 9, 3, 64, 8192
GROUP = HEADS // KV_HEADS
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="1,8,16")
    p.add_argument("--lengths", default="110,300", help="positions each row attends to, comma list")
    p.add_argument("--slot-length", type=int, default=4096, help="GroupQueryAttention's buffer per row")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--calls", type=int, default=50)
    args = p.parse_args(argv)
    args.rows, args.lengths = ([int(x) for x in v.split(",")] for v in (args.rows, args.lengths))
    return args


def tensor(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def gqa_model() -> onnx.ModelProto:
    """GroupQueryAttention over a shared past/present buffer, with rotary, as `exporter.optimize.passes` emits it."""
    inputs = ["qkv", "", "", "past_k", "past_v", "seqlens", "total", "cos", "sin"]
    node = helper.make_node(
        "GroupQueryAttention", inputs, ["out", "present_k", "present_v"], domain="com.microsoft",
        num_heads=HEADS, kv_num_heads=KV_HEADS, do_rotary=1, scale=DIM**-0.5,
    )  # fmt: skip
    angles = np.arange(MAX_POSITIONS)[:, None] / 10000 ** (np.arange(0, DIM, 2) / DIM)[None]  # (P, D/2)
    tables = [numpy_helper.from_array(f(angles).astype(np.float32), n) for n, f in (("cos", np.cos), ("sin", np.sin))]
    cache = ["n", KV_HEADS, "S", DIM]
    graph_inputs = [tensor("qkv", ["n", 1, (HEADS + 2 * KV_HEADS) * DIM]), tensor("past_k", cache)]
    graph_inputs += [tensor("past_v", cache), helper.make_tensor_value_info("seqlens", TensorProto.INT32, ["n"])]
    graph_inputs += [helper.make_tensor_value_info("total", TensorProto.INT32, [])]
    outputs = [tensor("out", None), tensor("present_k", cache), tensor("present_v", cache)]
    return helper.make_model(helper.make_graph([node], "gqa", graph_inputs, outputs, tables), opset_imports=OPSETS)


def grouped_model() -> onnx.ModelProto:
    """Softmax(q kᵀ / √D + mask) v with the query heads of one kv head as the rows of one GEMM."""
    nodes = [
        helper.make_node("FusedMatMul", ["q", "k"], ["scores"], domain="com.microsoft", transB=1, alpha=DIM**-0.5),
        helper.make_node("Add", ["scores", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["probs"], axis=-1),
        helper.make_node("MatMul", ["probs", "v"], ["out"]),
    ]
    cache = ["n", KV_HEADS, "L", DIM]
    inputs = [tensor("q", ["n", KV_HEADS, GROUP, DIM]), tensor("k", cache), tensor("v", cache)]
    inputs += [tensor("mask", ["n", 1, 1, "L"])]
    return helper.make_model(helper.make_graph(nodes, "grouped", inputs, [tensor("out", None)]), opset_imports=OPSETS)


def session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def gqa_binding(sess, rows: int, length: int, slot_length: int, rng) -> ort.IOBinding:
    binding = sess.io_binding()
    for name in ("k", "v"):  # past and present: one buffer, as the runtime binds them
        buffer = ort.OrtValue.ortvalue_from_numpy(rng.random((rows, KV_HEADS, slot_length, DIM), np.float32))
        binding.bind_ortvalue_input(f"past_{name}", buffer)
        binding.bind_ortvalue_output(f"present_{name}", buffer)
    binding.bind_cpu_input("qkv", rng.random((rows, 1, (HEADS + 2 * KV_HEADS) * DIM), np.float32))
    binding.bind_cpu_input("seqlens", np.full(rows, length - 1, np.int32))
    binding.bind_cpu_input("total", np.array(length, np.int32))
    binding.bind_output("out")
    return binding


def grouped_binding(sess, rows: int, length: int, rng) -> ort.IOBinding:
    binding = sess.io_binding()
    binding.bind_cpu_input("q", rng.random((rows, KV_HEADS, GROUP, DIM), np.float32))
    for name in ("k", "v"):
        binding.bind_cpu_input(name, rng.random((rows, KV_HEADS, length, DIM), np.float32))
    binding.bind_cpu_input("mask", np.zeros((rows, 1, 1, length), np.float32))
    binding.bind_output("out")
    return binding


def time_us(sess, binding, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        sess.run_with_iobinding(binding)
    return (time.perf_counter() - started) / calls * 1e6


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    gqa, grouped = session(gqa_model(), args.threads), session(grouped_model(), args.threads)
    rng = np.random.default_rng(0)
    print("| rows | positions | GroupQueryAttention (µs) | grouped MatMuls (µs) | ratio |\n|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        for length in args.lengths:
            forms = {
                "gqa": (gqa, gqa_binding(gqa, rows, length, args.slot_length, rng)),
                "grouped": (grouped, grouped_binding(grouped, rows, length, rng)),
            }
            times: dict[str, list[float]] = {name: [] for name in forms}
            for round_ in range(args.rounds + 1):  # the first round warms up
                for name in forms if round_ % 2 == 0 else list(forms)[::-1]:
                    elapsed = time_us(*forms[name], args.calls)
                    if round_:
                        times[name].append(elapsed)
            a, b = (statistics.median(times[name]) for name in forms)
            print(f"| {rows} | {length} | {a:.0f} | {b:.0f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
