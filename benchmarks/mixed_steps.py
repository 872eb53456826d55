"""A serving step that prefills a prompt chunk while rows decode: a decode and a prefill (two forwards) against one
forward of the mixed-step graph (`KVSlots.mixed`), interleaved on one bundle loaded as `prefixdeploy serve` loads it.

`--rows` rows decode, each past a prefix and a prompt of `--past` tokens; a `--chunk`-token chunk of another row's
prompt goes in beside them. Every round times both ways once, in turn, from the same cache state (lengths rewound);
prints the medians and the median per-round ratio mixed ÷ apart.

    python benchmarks/mixed_steps.py BUNDLE [--precision int8] [--batch-precision P] [--rows 16] [--chunk 28]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.kv import KVSlots


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--precision", default=None)
    p.add_argument("--batch-precision", default=None)
    p.add_argument("--rows", type=int, default=16)
    p.add_argument("--chunk", type=int, default=28)
    p.add_argument("--past", type=int, default=56)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    return p.parse_args(argv)


def filled(bundle, rows: int, past: int) -> KVSlots:
    """rows + 1 slots: `rows` rows past the bundle's first prefix and `past` prompt tokens; the last one seeded."""
    slots = KVSlots(bundle.backend, bundle.manifest, rows + 1, past + 128)
    prefix = next(iter(bundle.prefixes.values()), None)
    rng = np.random.default_rng(0)
    for r in range(rows + 1):
        slots.seed(r, prefix)
        if r < rows:
            slots.prefill(r, rng.integers(3, bundle.manifest.vocab_size, past).tolist())
    return slots


def measure(args) -> dict[str, list[float]]:
    with load_bundle(
        args.bundle, precision=args.precision, batch_precision=args.batch_precision, mixed_steps=True
    ) as bundle:
        if bundle.mixed_graph is None:
            raise SystemExit(f"{args.bundle} has no mixed-step graph: re-export it")
        slots = filled(bundle, args.rows, args.past)
        rng = np.random.default_rng(1)
        tokens = rng.integers(3, bundle.manifest.vocab_size, args.rows)
        ids = rng.integers(3, bundle.manifest.vocab_size, args.chunk).tolist()
        times: dict[str, list[float]] = {"apart": [], "mixed": []}
        for r in range(args.warmup + args.rounds):
            for way in ("apart", "mixed") if r % 2 == 0 else ("mixed", "apart"):
                started = time.perf_counter()
                if way == "apart":
                    slots.decode(tokens)
                    slots.prefill(args.rows, ids)
                else:
                    slots.mixed(tokens, args.rows, ids, last=True)
                if r >= args.warmup:
                    times[way].append(time.perf_counter() - started)
                slots.lengths[: args.rows] -= 1  # the same state for the next way and round
                slots.lengths[args.rows] -= args.chunk
        return times


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    times = measure(args)
    apart, mixed = (statistics.median(times[w]) * 1e3 for w in ("apart", "mixed"))
    ratio = statistics.median(m / a for m, a in zip(times["mixed"], times["apart"]))
    print(f"{args.rows} rows + a {args.chunk}-token chunk: apart {apart:.1f} ms, mixed {mixed:.1f} ms, "
          f"mixed ÷ apart {ratio:.3f} (median of {args.rounds} rounds)")  # fmt: skip


if __name__ == "__main__":
    main()
