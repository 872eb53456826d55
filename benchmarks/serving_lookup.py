"""Prompt lookup in the server: decode tokens/s of lone greedy requests with and without `--prompt-lookup`.

Two servers on 127.0.0.1 load the same bundle and precision: one plain, one with `--prompt-lookup K` (and
`--lookup-history N`). The prompts of `--inputs` (JSONL with "input", e.g. a sample's test split) go to both, one
request at a time (so every row is alone in its batch), plain and lookup taking turns; each prompt is sent once, so
the history holds only earlier, other prompts' answers (the first `--warmup` prompts fill it, untimed). The texts
must be equal; decode time is the first streamed text to the last (prefill excluded; a one-token answer has none,
so request latency, sent to last text, is reported too); acceptance comes from the lookup server's /metrics.

    python benchmarks/serving_lookup.py --bundle B --precision fp32 --model extract --inputs test.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families
from serving import free_port, start_server

from prefixdeploy.bench.lookup import read_inputs


def stream_once(client: openai.OpenAI, model: str, prompt: str, max_tokens: int) -> tuple[str, int, float, float]:
    """(text, completion tokens, seconds from the first text chunk to the last, from sending to the last chunk) of
    one greedy request."""
    times, parts, tokens, sent = [], [], 0, time.perf_counter()
    stream = client.completions.create(
        model=model,
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            times.append(time.perf_counter())
            parts.append(chunk.choices[0].text)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return "".join(parts), tokens, (times[-1] - times[0]) if times else 0.0, (times[-1] if times else sent) - sent


ADMIN_KEY = "serving-lookup-bench"  # with --lookup-history only an admin key reads the lookup counters


def lookup_counters(url: str) -> tuple[float, float]:
    """(draft, accepted) prompt-lookup tokens so far, from the server's /metrics."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics", headers=headers, timeout=30).text)
    totals = {s.name: s.value for f in families for s in f.samples}
    return totals["prefixdeploy_lookup_draft_tokens_total"], totals["prefixdeploy_lookup_accepted_tokens_total"]


def run(args, prompts: list[str], precision: str) -> dict:
    lookup_args = ["--prompt-lookup", str(args.k), "--lookup-history", str(args.history), "--admin-key", ADMIN_KEY]
    with ExitStack() as stack:
        urls = {}
        for name, extra in (("plain", []), ("lookup", lookup_args)):
            port = free_port()
            server = start_server(args.bundle, precision, port, args, extra)
            stack.callback(lambda s=server: (s.terminate(), s.wait(timeout=60)))
            urls[name] = f"http://127.0.0.1:{port}"
        clients = {name: openai.OpenAI(base_url=f"{url}/v1", api_key="none", timeout=300) for name, url in urls.items()}
        totals = {name: [0, 0.0] for name in clients}  # decode tokens, seconds
        latency = {name: 0.0 for name in clients}  # seconds, summed
        mismatches = 0
        for i, prompt in enumerate(prompts):
            texts = {}
            for name in ("plain", "lookup") if i % 2 == 0 else ("lookup", "plain"):
                text, tokens, seconds, whole = stream_once(clients[name], args.model, prompt, args.max_tokens)
                texts[name] = text
                if i >= args.warmup:
                    totals[name][0] += tokens - 1
                    totals[name][1] += seconds
                    latency[name] += whole
            mismatches += texts["plain"] != texts["lookup"]
            if i + 1 == args.warmup:
                before = lookup_counters(urls["lookup"])
        drafted, accepted = (a - b for a, b in zip(lookup_counters(urls["lookup"]), before))
    rate = {name: tokens / seconds if seconds else None for name, (tokens, seconds) in totals.items()}
    return {
        "precision": precision,
        "model": args.model,
        "requests": len(prompts) - args.warmup,
        "plain_decode_tokens_per_s": rate["plain"],
        "lookup_decode_tokens_per_s": rate["lookup"],
        "speedup": rate["lookup"] / rate["plain"] if rate["plain"] and rate["lookup"] else None,
        "latency_ratio": latency["lookup"] / latency["plain"],
        "drafted": drafted,
        "accepted": accepted,
        "acceptance": accepted / drafted if drafted else 0.0,
        "text_mismatches": mismatches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--precision", action="append", default=None)
    parser.add_argument("--model", required=True, help="the prefix (model id) every request uses")
    parser.add_argument("--inputs", type=Path, required=True, help='JSONL with "input", or one prompt per line')
    parser.add_argument("--requests", type=int, default=24, help="timed prompts (each sent once to each server)")
    parser.add_argument("--warmup", type=int, default=4, help="untimed prompts first (they fill the history)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--k", type=int, default=10, help="--prompt-lookup K")
    parser.add_argument("--history", type=int, default=16, help="--lookup-history N (0: prompt only)")
    parser.add_argument("--max-num-seqs", type=int, default=8)
    parser.add_argument("--max-prefill-tokens", type=int, default=32)
    args = parser.parse_args()
    if args.warmup < 1 or args.requests < 1:
        parser.error("--warmup and --requests must be ≥ 1")
    prompts = read_inputs(args.inputs)[: args.warmup + args.requests]
    if len(prompts) <= args.warmup:
        parser.error(f"--inputs has {len(prompts)} prompts: more than --warmup ({args.warmup}) are needed")
    for precision in args.precision or ["fp32"]:
        print(json.dumps(run(args, prompts, precision)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
