"""Engine settings against each other in one process: no HTTP and no load generator on the same 2 cores, so a
setting's effect shows above this machine's swing between runs.

Per round, each `--config` in turn (the order reversed every other round) serves one closed loop: `--clients`
clients each send a request as soon as their last one ended, `--requests` in all, each `--prompt-length` random
prompt ids with `--prefix` and `--output-length` greedy tokens (EOS ignored), on one bundle loaded once. Prints per
config the median tokens/s, each round's ratio to the first config, and the medians of TTFT p50 / p99 and
inter-token p50 / p99 (the gap between a request's successive tokens).

    python benchmarks/engine_ab.py BUNDLE --precision int8 --config "chunks of 32:max_prefill_tokens=32" \
        --config "chunks of 128:max_prefill_tokens=128" [--clients 16] [--requests 64] [--prompt-length 56] [--rounds 6]

A config is NAME:FIELD=VALUE[,FIELD=VALUE...] over EngineConfig's integer fields (max_num_seqs is --clients).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import time
from pathlib import Path

from prefixdeploy.bench.measure import summarize
from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.serving.engine.engine import Engine, EngineConfig, SamplingParams

LATENCIES = ("TTFT p50", "TTFT p99", "ITL p50", "ITL p99")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--precision", default=None)
    p.add_argument("--batch-precision", default=None)
    p.add_argument("--config", action="append", required=True, help="NAME:FIELD=VALUE[,...]; the first is the base")
    p.add_argument("--prefix", default="extract", help="the prefix of every request ('' for none)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=64)
    p.add_argument("--prompt-length", type=int, default=56)
    p.add_argument("--output-length", type=int, default=32)
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args(argv)
    try:
        args.configs = dict(parse_config(spec, args.clients) for spec in args.config)
    except (ValueError, ConfigError) as e:
        p.error(f"--config: {e}")
    if len(args.configs) < 2:
        p.error("two or more --config with distinct names")
    return args


def parse_config(spec: str, clients: int) -> tuple[str, EngineConfig]:
    """NAME:FIELD=VALUE[,...] -> (NAME, EngineConfig with those integer fields and max_num_seqs = clients)."""
    name, _, fields = spec.partition(":")
    known = {f.name for f in dataclasses.fields(EngineConfig)}
    values = dict(item.split("=", 1) for item in fields.split(",") if item)
    if not name or set(values) - known:
        raise ValueError(f"{spec!r}: expected NAME:FIELD=VALUE[,...] over {sorted(known)}")
    return name, EngineConfig(max_num_seqs=clients, max_queue=clients, **{k: int(v) for k, v in values.items()})


async def closed_loop(engine: Engine, prompts: list[list[int]], prefix, args) -> dict[str, float]:
    """Serve `prompts` with `args.clients` clients; tokens/s, TTFT p50 / p99 and inter-token p50 / p99 (ms)."""
    queue, firsts, gaps, tokens = list(prompts), [], [], 0
    params = SamplingParams(max_tokens=args.output_length, temperature=0.0, ignore_eos=True)

    async def client():
        nonlocal tokens
        while queue:
            last, first = time.perf_counter(), True
            async for _ in engine.submit(queue.pop(), prefix, params):
                now = time.perf_counter()
                (firsts if first else gaps).append(now - last)
                last, first, tokens = now, False, tokens + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    rate = tokens / (time.perf_counter() - started)
    ttft, itl = summarize(firsts), summarize(gaps)
    latency = {f"TTFT {p}": ttft[p] * 1e3 for p in ("p50", "p99")} | {f"ITL {p}": itl[p] * 1e3 for p in ("p50", "p99")}
    return {"tok/s": rate, **latency}


def measure(args) -> dict[str, list[dict[str, float]]]:
    """Every config once per round, in alternating order; one bundle for all."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in args.configs}
    with load_bundle(args.bundle, precision=args.precision, batch_precision=args.batch_precision) as bundle:
        prefix = bundle.prefixes[args.prefix] if args.prefix else None
        vocab = bundle.manifest.vocab_size
        for round_ in range(args.rounds):
            rng = random.Random(round_)  # every config of a round gets the same prompts
            prompts = [[rng.randrange(3, vocab) for _ in range(args.prompt_length)] for _ in range(args.requests)]
            names = list(args.configs) if round_ % 2 == 0 else list(args.configs)[::-1]
            for name in names:
                engine = Engine(bundle, args.configs[name])
                engine.start()
                try:
                    results[name].append(asyncio.run(closed_loop(engine, prompts, prefix, args)))
                finally:
                    engine.shutdown(5.0)
                print(f"round {round_} {name}: {results[name][-1]['tok/s']:.1f} tok/s", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = measure(args)
    base = results[next(iter(results))]
    for name, runs in results.items():
        ratios = [r["tok/s"] / b["tok/s"] for r, b in zip(runs, base)]
        latency = " / ".join(f"{statistics.median(r[m] for r in runs):.0f}" for m in LATENCIES)
        print(
            f"{name}: {statistics.median(r['tok/s'] for r in runs):.1f} tok/s (median); ÷ first per round "
            f"{', '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f}); "
            f"{' / '.join(LATENCIES)} {latency} ms"
        )


if __name__ == "__main__":
    main()
