"""The prefix rows of saved `serving_peers.py` runs against their base rows, pooled: one ratio per (row, round,
clients) pair, prefix tok/s ÷ base tok/s, the same server in the same round. One run's cells move ±15% between rounds,
so a cell alone cannot show a cost of a few percent; hundreds of pairs can.

    python benchmarks/prefix_pairs.py benchmarks/SERVING-*.json

Prints per file and pooled: pairs, median, geometric mean, quartiles, and the geometric mean's 95% bootstrap interval.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from pathlib import Path

SUFFIX = " + prefix"  # serving_peers' name of a row's prefix pass


def prefix_ratios(records: list[dict]) -> list[float]:
    """prefix ÷ base output tok/s for every prefix record whose base pass ran in the same round at the same level."""
    tok_s = {(r["row"], r["round"], r["clients"]): r.get("output_throughput") for r in records}
    ratios = []
    for (row, round_, clients), value in tok_s.items():
        base = tok_s.get((row.removesuffix(SUFFIX), round_, clients)) if row.endswith(SUFFIX) else None
        if value and base:
            ratios.append(value / base)
    return ratios


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def summary(ratios: list[float], draws: int = 2000, seed: int = 0) -> dict[str, float]:
    """Median, geometric mean, quartiles and the geometric mean's 95% bootstrap interval."""
    rng, ordered = random.Random(seed), sorted(ratios)
    boots = sorted(geomean(rng.choices(ratios, k=len(ratios))) for _ in range(draws))
    quartiles = statistics.quantiles(ordered, n=4)
    return {
        "pairs": len(ratios),
        "median": statistics.median(ordered),
        "geomean": geomean(ratios),
        "q1": quartiles[0],
        "q3": quartiles[2],
        "low": boots[int(0.025 * draws)],
        "high": boots[int(0.975 * draws) - 1],
    }


def line(name: str, s: dict[str, float]) -> str:
    return (
        f"| {name} | {s['pairs']} | {s['median']:.3f} | {s['geomean']:.3f} | {s['q1']:.2f}–{s['q3']:.2f} "
        f"| {s['low']:.3f}–{s['high']:.3f} |"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, nargs="+", help="serving_peers.py JSON files")
    args = p.parse_args(argv)
    print("| run | pairs | median | geometric mean | quartiles | 95% interval of the geometric mean |")
    print("|---|---:|---:|---:|---|---|")
    pooled = []
    for path in args.runs:
        ratios = prefix_ratios(json.loads(path.read_text()).get("records", []))
        if len(ratios) >= 2:
            print(line(path.name, summary(ratios)))
            pooled += ratios
    if len(pooled) < 2:
        raise SystemExit("fewer than two prefix/base pairs in these files")
    print(line("pooled", summary(pooled)))


if __name__ == "__main__":
    main()
