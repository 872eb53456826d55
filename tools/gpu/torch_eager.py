"""PyTorch eager on the same device, the baseline of the GPU run: its time per token and tokens beside the bundle's.

    python tools/gpu/torch_eager.py --model DIR --adapter DIR --bundle DIR --prefix peft16 [--device cuda]
        [--dtype float16] [--provider cuda] [--precision fp16] [--prompt-length 56] [--new-tokens 32]
        [--warmup 2] [--repetitions 10] --json OUT

The request is `prefixdeploy bench`'s: its synthetic prompt of --prompt-length tokens (from the bundle's tokenizer),
greedy, exactly --new-tokens new tokens, batch 1, with the prefix that the adapter --adapter is in the bundle. The
baseline is benchmarks/systems.py's PEFT reference loop (PeftModel.forward with the KV cache) at --dtype on
--device; the bundle's greedy tokens for the same request (--provider, --precision) are written beside its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from systems import TorchPeft  # noqa: E402

from prefixdeploy.bench.measure import summarize  # noqa: E402
from prefixdeploy.bench.scenarios import synthetic_prompts  # noqa: E402
from prefixdeploy.runtime.bundle import load_bundle  # noqa: E402
from prefixdeploy.runtime.generate import GenerationConfig  # noqa: E402


def bundle_tokens(args: argparse.Namespace) -> tuple[list[int], list[int]]:
    """The benchmark's prompt ids and the bundle's greedy new tokens for it."""
    with load_bundle(args.bundle, provider=args.provider, precision=args.precision) as bundle:
        (prompt,) = synthetic_prompts(bundle, args.prompt_length, 1)
        config = GenerationConfig(max_new_tokens=args.new_tokens, ignore_eos=True)
        (tokens,) = bundle.generate_ids([prompt], [args.prefix], config)
    return prompt, tokens


def time_torch(args: argparse.Namespace, prompt: list[int]) -> tuple[dict, list[int]]:
    import torch

    runner = TorchPeft(args.model, args.adapter, prompt, args.new_tokens, device=args.device, dtype=args.dtype)
    for _ in range(args.warmup):
        runner.run()
    timings, tokens = [], []
    for _ in range(args.repetitions):
        timing, tokens = runner.run()
        timings.append(timing)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    uncached = runner.uncached_tokens()  # the loop's check: the same greedy tokens without a cache
    return {
        "device": device,
        "dtype": args.dtype,
        "torch_version": torch.__version__,
        "ttft_s": summarize(t.ttft for t in timings),
        "tpot_s": summarize(t.tpot for t in timings),
        "latency_s": summarize(t.latency for t in timings),
        "tokens": tokens,
        "cached_equals_uncached": tokens == uncached,
    }, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--prefix", required=True, help="The adapter's name in the bundle.")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default=None, help="Default: float16 on a GPU, float32 on the CPU.")
    parser.add_argument("--provider", default="cuda")
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--prompt-length", type=int, default=56)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    args.dtype = args.dtype or ("float32" if args.device == "cpu" else "float16")
    prompt, ours = bundle_tokens(args)
    torch_result, theirs = time_torch(args, prompt)
    equal = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), len(ours))
    report = {
        "prompt_length": len(prompt),
        "new_tokens": args.new_tokens,
        "prefix": args.prefix,
        "torch": torch_result,
        "prefixdeploy_tokens": ours,
        "prefixdeploy": {"provider": args.provider, "precision": args.precision},
        "tokens_equal": equal,  # leading tokens equal: after the first difference the histories differ
        "total": len(ours),
    }
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    tpot = torch_result["tpot_s"]["p50"] * 1e3
    print(
        f"PyTorch eager {args.dtype} on {torch_result['device']}: {tpot:.2f} ms/token; tokens equal {equal}/{len(ours)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
