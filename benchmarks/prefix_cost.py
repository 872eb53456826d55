"""The prefix's cost at each precision, interleaved: requests with the prefix and without it alternate on one loaded
bundle graph, so both see the same machine; prints the medians and the per-pair ratios (prefix on ÷ off).

`prefixdeploy bench --scenarios prefix,no-prefix` measures the same in two blocks; this is the paired check.

    python benchmarks/prefix_cost.py BUNDLE --prefix NAME [--graph FILE ...] [--rounds 30] [--warmup 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from prefixdeploy.bench.measure import time_request
from prefixdeploy.bench.scenarios import synthetic_prompts
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--prefix", required=True, help="the prefix timed against no prefix")
    p.add_argument("--graph", action="append", default=None, help="graph file(s); default: every graph")
    p.add_argument("--rounds", type=int, default=30, help="timed pairs (prefix on, then off) per graph")
    p.add_argument("--warmup", type=int, default=3, help="untimed pairs first")
    p.add_argument("--prompt-length", type=int, default=56)
    p.add_argument("--output-length", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)")
    args = p.parse_args(argv)
    if args.rounds < 2 or args.warmup < 0 or args.prompt_length < 1 or args.output_length < 2:
        p.error("--rounds ≥ 2, --warmup ≥ 0, --prompt-length ≥ 1, --output-length ≥ 2")
    return args


def measure_graph(bundle_dir: Path, graph: str, prefix: str, args) -> dict:
    """Median TTFT and TPOT with and without the prefix, and the medians of the per-pair ratios (on ÷ off)."""
    config = GenerationConfig(max_new_tokens=args.output_length, ignore_eos=True)  # greedy
    with load_bundle(bundle_dir, graph=graph, threads=args.threads) as bundle:
        prompt = synthetic_prompts(bundle, args.prompt_length, 1)
        pairs = []
        for i in range(args.warmup + args.rounds):
            # Alternate which goes first, so neither always follows the other.
            order = (prefix, None) if i % 2 == 0 else (None, prefix)
            timed = {p: time_request(bundle, prompt, [p], config) for p in order}
            if i >= args.warmup:
                pairs.append((timed[prefix], timed[None]))
    out = {"graph": graph}
    for metric in ("ttft", "tpot"):
        on = [getattr(a, metric) for a, _ in pairs]
        off = [getattr(b, metric) for _, b in pairs]
        out[metric] = {
            "on_ms": statistics.median(on) * 1e3,
            "off_ms": statistics.median(off) * 1e3,
            "ratio_of_medians": statistics.median(on) / statistics.median(off),
            "median_pair_ratio": statistics.median(a / b for a, b in zip(on, off)),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from prefixdeploy.runtime.manifest import read_manifest

    graphs = args.graph or [g.file for g in read_manifest(args.bundle).graphs if g.kind == "ort"]
    print("| graph | TTFT on / off ms | TTFT ratio (median pair) | TPOT on / off ms | TPOT ratio (median pair) |")
    print("|---|---:|---:|---:|---:|")
    for graph in graphs:
        r = measure_graph(args.bundle, graph, args.prefix, args)
        t, d = r["ttft"], r["tpot"]
        print(
            f"| `{graph}` | {t['on_ms']:.1f} / {t['off_ms']:.1f} | {t['ratio_of_medians']:.3f} "
            f"({t['median_pair_ratio']:.3f}) | {d['on_ms']:.2f} / {d['off_ms']:.2f} | "
            f"{d['ratio_of_medians']:.3f} ({d['median_pair_ratio']:.3f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
