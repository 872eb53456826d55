"""Where a decode step's time goes at 1, 8 and 16 rows: ONNX Runtime's profiler over the runtime's own decode loop.

Per batch size: one request of `--rows` rows of `--prompt-length` tokens with `--prefix` on every row, decoding
`--steps` tokens greedily (EOS ignored), profiled by ONNX Runtime. Prints, per batch size, the wall time per step
(what a client sees from the runtime), the time inside ONNX Runtime's run per decode step (the rest is Python and
the copies around it), and the share of the decode steps' kernel time per operator type.

    python benchmarks/step_profile.py BUNDLE --precision int4 --prefix extract [--rows 1,8,16] [--steps 17]

Measurement only: ONNX Runtime's profiler is switched on by replacing `onnxruntime.SessionOptions` in this process.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import onnxruntime as ort

from prefixdeploy.bench.measure import time_request
from prefixdeploy.bench.scenarios import synthetic_prompts
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--precision", default="int4")
    p.add_argument("--prefix", required=True)
    p.add_argument("--rows", default="1,8,16", help="batch sizes, comma list")
    p.add_argument("--prompt-length", type=int, default=56)
    p.add_argument("--steps", type=int, default=17, help="new tokens per request (the first comes from prefill)")
    args = p.parse_args(argv)
    args.rows = [int(r) for r in args.rows.split(",")]
    return args


def profiling_options(prefix: Path):
    """A SessionOptions factory with ONNX Runtime's profiler on, writing under `prefix`."""
    base = ort.SessionOptions

    def make():
        options = base()
        options.enable_profiling = True
        options.profile_file_prefix = str(prefix)
        return options

    return make


def decode_events(trace: list[dict], steps: int) -> tuple[list[dict], list[dict]]:
    """The last `steps` model runs (the decode steps; prefills come first) and the node events inside them."""
    runs = [e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"][-steps:]
    spans = [(r["ts"], r["ts"] + r["dur"]) for r in runs]
    nodes = [
        e
        for e in trace
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and any(a <= e["ts"] <= b for a, b in spans)
    ]
    return runs, nodes


def profile(args, rows: int, work: Path) -> dict:
    ort.SessionOptions = profiling_options(work / f"rows{rows}")
    with load_bundle(args.bundle, precision=args.precision) as bundle:
        prompts = synthetic_prompts(bundle, args.prompt_length, rows)
        config = GenerationConfig(max_new_tokens=args.steps, ignore_eos=True)
        time_request(bundle, prompts, [args.prefix] * rows, config)  # warm-up
        timing = time_request(bundle, prompts, [args.prefix] * rows, config)
        trace_file = bundle.backend.session.end_profiling()
    runs, nodes = decode_events(json.loads(Path(trace_file).read_text()), args.steps - 1)
    by_op = collections.Counter()
    for e in nodes:
        by_op[e["args"]["op_name"]] += e["dur"]
    kernel = sum(by_op.values())
    return {
        "rows": rows,
        "step_ms": timing.tpot * 1e3,
        "ort_run_ms": sum(r["dur"] for r in runs) / len(runs) / 1e3,
        "kernels_ms": kernel / len(runs) / 1e3,
        "ops": {op: us / kernel for op, us in by_op.most_common(6)},
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    print("| rows | wall per step | in ONNX Runtime's run | kernels | kernel time by operator |")
    print("|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as work:
        for rows in args.rows:
            r = profile(args, rows, Path(work))
            ops = ", ".join(f"{op} {share:.0%}" for op, share in r["ops"].items())
            print(f"| {rows} | {r['step_ms']:.2f} ms | {r['ort_run_ms']:.2f} ms | {r['kernels_ms']:.2f} ms | {ops} |")


if __name__ == "__main__":
    main()
