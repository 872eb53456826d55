"""A short load on `prefixdeploy serve`: eight clients with mixed prefixes, their outputs against `run`'s, and the
served throughput of eight clients against one.

    python tools/gpu/serve_load.py --bundle DIR [--provider cuda] [--precision fp16] [--clients 8]
        [--new-tokens 32] [--requests 32] --json OUT

First the expected outputs: `run`'s path (choose the prefix, encode, generate greedily with EOS ignored) in this
process, one request at a time. Then the server starts on 127.0.0.1 (a subprocess) with --max-num-seqs = --clients;
--clients requests go at once, each with another model id (the prefixes and the base model in turn) and one of two
prompts, asking for their token ids (`return_token_ids`); then loadgen's sweep at concurrency 1 and --clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from prefixdeploy.bench.loadgen import LoadConfig, sweep
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.manifest import read_manifest
from prefixdeploy.runtime.run import choose_prefix

PROMPTS = (
    "The committee met on Tuesday to review the quarterly figures and asked for",
    "Write one sentence about the sea:",
)
READY_S = 180  # the server loads the bundle (on a GPU: builds the CUDA session) before /health says 200


def expected_outputs(args: argparse.Namespace, models: list[str | None]) -> list[dict]:
    """What `prefixdeploy run --ignore-eos --json` gives for each case: its prompt and new token ids."""
    config = GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True)
    cases = []
    with load_bundle(args.bundle, provider=args.provider, precision=args.precision) as bundle:
        for i, model in enumerate(models):
            prefix = choose_prefix(bundle, model, no_prefix=model is None)
            prompt = PROMPTS[i % len(PROMPTS)]
            ids = bundle.encode(prompt, prefix=prefix)
            tokens = list(bundle.stream_ids(ids, prefix, config))
            cases.append({"model": model, "prompt": prompt, "prompt_ids": ids, "run_token_ids": tokens})
    return cases


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "prefixdeploy.cli", "serve", str(args.bundle), "--port", str(port)]
    command += ["--provider", args.provider, "--precision", args.precision, "--max-num-seqs", str(args.clients)]
    server = subprocess.Popen(command, env=os.environ | {"PREFIXDEPLOY_API_KEY": ""})
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"serve_load: the server exited with {server.returncode} before it was ready")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)  # a tool polling a subprocess, not a test
    server.kill()
    raise SystemExit(f"serve_load: the server was not ready within {READY_S} s")


async def served_outputs(url: str, cases: list[dict], base_id: str, new_tokens: int) -> list[dict]:
    """Every case at once; each response's token ids."""

    async def one(client: httpx.AsyncClient, case: dict) -> dict:
        body = {"model": case["model"] or base_id, "prompt": case["prompt"], "max_tokens": new_tokens}
        body |= {"temperature": 0, "ignore_eos": True, "return_token_ids": True}
        response = await client.post("/v1/completions", json=body, timeout=300)
        if response.status_code != 200:
            return {"error": f"HTTP {response.status_code}: {response.text[:200]}"}
        choice = response.json()["choices"][0]
        return {"served_token_ids": choice["token_ids"], "served_prompt_ids": choice["prompt_token_ids"]}

    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=len(cases) + 2)) as client:
        return list(await asyncio.gather(*(one(client, case) for case in cases)))


def compare(cases: list[dict], served: list[dict]) -> list[dict]:
    rows = []
    for case, got in zip(cases, served):
        want, have = case["run_token_ids"], got.get("served_token_ids", [])
        first = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b), None)
        equal = "error" not in got and have == want and got["served_prompt_ids"] == case["prompt_ids"]
        rows.append({"model": case["model"], "prompt": case["prompt"], "equal": equal, "first_diff": first} | got)
    return rows


def run_load(args: argparse.Namespace) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    manifest = read_manifest(args.bundle)
    names: list[str | None] = [*manifest.prefix_names, *([None] if manifest.mode == "switchable" else [])]
    models = [names[i % len(names)] for i in range(args.clients)]
    cases = expected_outputs(args, models)
    server = start_server(args, port)
    try:
        listed = httpx.get(f"{url}/v1/models", timeout=10).json()["data"]
        base_id = next((m["id"] for m in listed if m.get("parent") is None), "")
        rows = compare(cases, asyncio.run(served_outputs(url, cases, base_id, args.new_tokens)))
        load = dict(concurrencies=(1, args.clients), requests_per_level=args.requests, max_tokens=args.new_tokens)
        report = asyncio.run(sweep(LoadConfig(url=url, prompt=PROMPTS[0], **load)))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    throughput = {str(row["concurrency"]): row["output_throughput"] for row in report["levels"]}
    one, many = throughput.get("1"), throughput.get(str(args.clients))
    return {
        "equal": sum(r["equal"] for r in rows),
        "total": len(rows),
        "cases": rows,
        "throughput": throughput,
        "ratio": many / one if one and many else None,
        "sweep": report,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--provider", default="cuda")
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--requests", type=int, default=32, help="Requests per level of the sweep.")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run_load(args)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"serve: {result['equal']}/{result['total']} outputs equal to run; output tokens/s {result['throughput']}")
    failed = {row["concurrency"]: row["errors"] for row in result["sweep"]["levels"] if row["failed"]}
    errors = [case["error"] for case in result["cases"] if "error" in case]
    if failed or errors:
        print(f"serve_load: requests failed: {errors[:2]} {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
