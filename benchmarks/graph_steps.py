"""Several graphs of one bundle timed against each other, interleaved: every round runs each graph once (the order
rotating), so all see the same machine; prints medians and each graph's per-round ratio to the first graph.

Per graph and round: one batch-1 request (prefill of `--prompt-length` tokens = TTFT, then the decode steps = TPOT) and
one batch-8 request (TPOT = one step of 8 rows), with `--prefix` on every row. Used to choose int4 recipes
(docs/quantization.md); `prefixdeploy bench --graph` measures one graph at a time. A `--graph` given as a path
(OTHER_BUNDLE/FILE) is that graph of another bundle, e.g. the same precision exported by an earlier recipe.

    python benchmarks/graph_steps.py BUNDLE --prefix NAME --graph FILE --graph FILE [...] [--rounds 20] [--warmup 2]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from prefixdeploy.bench.measure import time_request
from prefixdeploy.bench.scenarios import synthetic_prompts
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

METRICS = ("prefill_ms", "decode_b1_ms", "step_b8_ms")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--prefix", required=True, help="the prefix every row uses")
    p.add_argument("--graph", action="append", required=True, help="graph file; the first is the ratios' base")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    p.add_argument("--prompt-length", type=int, default=56)
    p.add_argument("--output-length", type=int, default=33, help="batch 1; batch 8 decodes half as many")
    args = p.parse_args(argv)
    if len(args.graph) < 2 or args.rounds < 1 or args.warmup < 0 or args.output_length < 4:
        p.error("two or more --graph, --rounds ≥ 1, --warmup ≥ 0, --output-length ≥ 4")
    return args


def measure(bundle, prompts: list[list[int]], prefix: str, args) -> dict[str, float]:
    """One round of one graph: prefill and decode step at batch 1, decode step at batch 8 (ms)."""
    one = GenerationConfig(max_new_tokens=args.output_length, ignore_eos=True)  # greedy
    eight = GenerationConfig(max_new_tokens=args.output_length // 2, ignore_eos=True)
    a = time_request(bundle, prompts[:1], [prefix], one)
    b = time_request(bundle, prompts, [prefix] * len(prompts), eight)
    return dict(zip(METRICS, (a.ttft * 1e3, a.tpot * 1e3, b.tpot * 1e3)))


def load_graph(bundle: Path, graph: str, verify_hashes: bool):
    """Graph file `graph` of `bundle`, or of another bundle when `graph` is a path (OTHER_BUNDLE/FILE)."""
    path = Path(graph)
    if len(path.parts) > 1:
        bundle, graph = path.parent, path.name
    return load_bundle(bundle, graph=graph, verify_hashes=verify_hashes)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bundles = {g: load_graph(args.bundle, g, verify_hashes=i == 0) for i, g in enumerate(args.graph)}
    prompts = synthetic_prompts(next(iter(bundles.values())), args.prompt_length, 8)  # (8, ISL) token ids
    runs = {g: [] for g in args.graph}
    for r in range(args.warmup + args.rounds):
        shift = r % len(args.graph)
        for g in args.graph[shift:] + args.graph[:shift]:
            timed = measure(bundles[g], prompts, args.prefix, args)
            if r >= args.warmup:
                runs[g].append(timed)
    base = runs[args.graph[0]]
    print("| graph | " + " | ".join(METRICS) + " | ratios to the first (median per round) |")
    print("|---|" + "---:|" * (len(METRICS) + 1))
    for g, rows in runs.items():
        medians = [statistics.median(x[m] for x in rows) for m in METRICS]
        ratios = [statistics.median(x[m] / y[m] for x, y in zip(rows, base)) for m in METRICS]
        cells = " | ".join(f"{v:.2f}" for v in medians)
        print(f"| `{g}` | {cells} | {' / '.join(f'{v:.3f}' for v in ratios)} |", flush=True)
    for bundle in bundles.values():
        bundle.close()


if __name__ == "__main__":
    main()
