"""Serving benchmark: `prefixdeploy serve` against the same requests run in-process, and a concurrency sweep.

For each precision: start the server on 127.0.0.1 (a subprocess), measure the server overhead (end-to-end latency
of a request at concurrency 1 over HTTP, interleaved with the same request run in-process through the runtime),
then the sweep of `prefixdeploy.bench.loadgen` with a random model (a prefix, or the base model) per request.
Writes benchmarks/SERVING.md (and .json, .png beside it) with the issue's target ratios.

    python benchmarks/serving.py --bundle demo-out/bundle --precision fp32 --precision int4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

from prefixdeploy.bench.loadgen import LoadConfig, format_sweep, one_request, sweep
from prefixdeploy.bench.loadgen_plot import write_sweep_plot
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.serving.engine.config import ENGINE_DEFAULTS

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundle: Path, precision: str, port: int, args, extra: Sequence[str] = ()) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "prefixdeploy.cli", "serve", str(bundle), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--precision", precision, "--max-num-seqs", str(args.max_num_seqs)]
    cmd += ["--max-prefill-tokens", str(args.max_prefill_tokens), *extra]
    server = subprocess.Popen(cmd, env={**os.environ, "PREFIXDEPLOY_API_KEY": ""})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not become healthy within 120 s")


def in_process_latency(bundle, prompt: str, model: str | None, max_tokens: int) -> float:
    config = GenerationConfig(max_new_tokens=max_tokens, ignore_eos=True)
    start = time.perf_counter()
    for _ in bundle.stream_ids(bundle.encode(prompt), model, config):
        pass
    return time.perf_counter() - start


async def overhead(config: LoadConfig, bundle, model: str, rounds: int) -> dict:
    """Median end-to-end latency of one request over HTTP and in-process, interleaved round by round."""
    served, local = [], []
    async with httpx.AsyncClient(base_url=config.url) as client:
        for _ in range(rounds + 2):  # two warm-up rounds
            record = await one_request(client, config, model)
            served.append(record.e2el)
            local.append(in_process_latency(bundle, config.prompt, model, config.max_tokens))
    served, local = served[2:], local[2:]
    return {"http_ms": float(np.median(served)) * 1e3, "in_process_ms": float(np.median(local)) * 1e3}


def targets(report: dict, cost: dict) -> dict:
    by = {row["concurrency"]: row for row in report["levels"]}
    one, eight = by[1], by[8]
    return {
        "output tok/s c8 / c1 (≥ 4)": eight["output_throughput"] / one["output_throughput"],
        "TTFT p99 c8 / TTFT p50 c1 (≤ 3)": eight["ttft_ms"]["p99"] / one["ttft_ms"]["p50"],
        "ITL p99 / ITL p50 at c8 (≤ 2.5)": eight["itl_ms"]["p99"] / eight["itl_ms"]["p50"],
        "E2EL http / in-process at c1 (≤ 1.05)": cost["http_ms"] / cost["in_process_ms"],
    }


def bench_precision(args, precision: str) -> dict:
    port = free_port()
    server = start_server(args.bundle, precision, port, args)
    try:
        config = LoadConfig(
            url=f"http://127.0.0.1:{port}",
            max_tokens=args.output_length,
            seed=args.seed,
            concurrencies=args.concurrency,
            requests_per_level=args.requests,
            rounds=args.sweep_rounds,
        )
        with load_bundle(args.bundle, precision=precision) as bundle:
            model = bundle.manifest.prefix_names[0]
            cost = asyncio.run(overhead(config, bundle, model, args.rounds))
        report = asyncio.run(sweep(config))
    finally:
        server.terminate()
        server.wait(timeout=60)
    report.update(precision=precision, overhead=cost, targets=targets(report, cost))
    return report


def write_markdown(reports: list[dict], path: Path, args) -> None:
    lines = [
        "# Serving benchmark",
        "",
        f"`python benchmarks/serving.py {' '.join(sys.argv[1:])}`, {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    lines += [
        f"Server: `--max-num-seqs {args.max_num_seqs} --max-prefill-tokens {args.max_prefill_tokens}`. Load: "
        f"{args.output_length} new tokens per request (ignore_eos, greedy), a random model per request, each level "
        f"in {args.sweep_rounds} parts taking turns with the others. Overhead: {args.rounds} interleaved rounds.",
        "",
    ]
    for r in reports:
        lines += [f"## {r['precision']}", "", "```", format_sweep(r), "```", ""]
        o = r["overhead"]
        lines += [f"In-process {o['in_process_ms']:.1f} ms, over HTTP {o['http_ms']:.1f} ms (medians).", ""]
        lines += ["| target | measured |", "|---|---:|"]
        lines += [f"| {name} | {value:.2f} |" for name, value in r["targets"].items()] + [""]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--precision", action="append", default=None)
    parser.add_argument("--output-length", type=int, default=32)
    parser.add_argument("--max-num-seqs", type=int, default=16)
    parser.add_argument("--max-prefill-tokens", type=int, default=ENGINE_DEFAULTS.max_prefill_tokens)
    parser.add_argument("--concurrency", type=lambda s: tuple(map(int, s.split(","))), default=(1, 2, 4, 8, 16))
    parser.add_argument("--requests", type=int, default=0, help="per level (0: max(16, 4 × concurrency))")
    parser.add_argument("--sweep-rounds", type=int, default=2, help="levels take turns in this many parts")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds of the overhead measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "SERVING.md")
    args = parser.parse_args()
    reports = [bench_precision(args, p) for p in args.precision or ["fp32"]]
    for r in reports:
        print(f"[{r['precision']}]\n{format_sweep(r)}\n{json.dumps(r['targets'], indent=1)}")
        write_sweep_plot(r, args.out.with_name(f"{args.out.stem}-{r['precision']}.png"))
    args.out.with_suffix(".json").write_text(json.dumps(reports, indent=2) + "\n")
    write_markdown(reports, args.out, args)


if __name__ == "__main__":
    main()
