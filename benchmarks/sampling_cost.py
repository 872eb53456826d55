"""What choosing one row's token costs (runtime/sampling.py's `sample_next`) at SmolLM2's vocabulary of 49,152, for
the sampling fields clients send: the part of a decode step of n rows spent beside ONNX Runtime, n times
(docs/performance.md, "Drawing a token").

Logits are drawn from N(0, scale²): scale 8 gives a peaked row (a small nucleus), 1 a flat one (the nucleus is most
of the vocabulary). Each source tree (this one, and every `--tree`, e.g. a `git worktree` of the code before) runs in
its own process, the trees taking turns each round; medians of the rounds, µs per row. A setting a tree does not
know (an argument it lacks) shows as "–".

    python benchmarks/sampling_cost.py [--tree OTHER_TREE ...] [--rounds 5] [--rows 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 49152
SCALES = (8.0, 3.0, 1.0)
SETTINGS = {
    "temperature 1 (vllm bench serve's requests)": {"temperature": 1.0},
    "temperature 0.8, top-p 0.95": {"temperature": 0.8, "top_p": 0.95},
    "temperature 0.8, top-p 0.95, min-p 0.05": {"temperature": 0.8, "top_p": 0.95, "min_p": 0.05},
    "temperature 0.8, top-k 40, top-p 0.95": {"temperature": 0.8, "top_k": 40, "top_p": 0.95},
    "llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05": {
        "temperature": 0.8,
        "top_k": 40,
        "top_p": 0.95,
        "min_p": 0.05,
    },
}

CHILD = """
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from prefixdeploy.runtime.sampling import sample_next
settings, scales, rows, vocab = json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
out = {}
for scale in scales:
    logits = (np.random.default_rng(0).standard_normal((rows, vocab)) * scale).astype(np.float32)
    for name, options in settings.items():
        rng = np.random.default_rng(1)
        try:
            sample_next(logits[:1], rng, **options)
        except TypeError:
            continue
        start = time.perf_counter()
        for i in range(rows):
            sample_next(logits[i : i + 1], rng, **options)
        out[f"{name}|{scale}"] = (time.perf_counter() - start) / rows * 1e6
print(json.dumps(out))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", action="append", default=[], type=Path, help="another source tree to time beside this")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rows", type=int, default=16, help="rows timed per setting and round (each its own logits)")
    p.add_argument("--vocab", type=int, default=VOCAB)
    return p.parse_args(argv)


def time_tree(tree: Path, rows: int, vocab: int) -> dict[str, float]:
    """One round of every setting and scale in a fresh process importing `tree`'s prefixdeploy."""
    cmd = [sys.executable, "-c", CHILD, str(tree), json.dumps(SETTINGS), json.dumps(SCALES), str(rows), str(vocab)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    trees = [ROOT, *args.tree]
    rounds: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
    for r in range(args.rounds):
        for tree in trees[r % len(trees) :] + trees[: r % len(trees)]:  # the first to run moves each round
            rounds[tree].append(time_tree(tree, args.rows, args.vocab))
    print("| setting | logits' scale | " + " | ".join(f"`{tree}` µs/row" for tree in trees) + " |")
    print("|---|---:|" + "---:|" * len(trees))
    for name in SETTINGS:
        for scale in SCALES:
            cells = [_median(rounds[tree], f"{name}|{scale}") for tree in trees]
            print(f"| {name} | {scale:g} | " + " | ".join(cells) + " |")


def _median(results: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in results if key in r]
    return f"{statistics.median(values):.0f}" if values else "–"


if __name__ == "__main__":
    main()
