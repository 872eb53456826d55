"""Time prefixdeploy against PyTorch + PEFT (eager), ONNX Runtime GenAI and (when llama-cpp-python is installed)
llama.cpp on one model, interleaved, and write RESULTS.md: request latency, TTFT, time per output token, the ratios
the "Speed" issue targets, and decode time per token against the memory-bandwidth floor. See benchmarks/README.md.

    python benchmarks/compare.py [--repetitions 10] [--precisions fp32,fp16,int8,int4] [--out benchmarks/RESULTS.md]
                                 [--skip-torch] [--skip-genai] [--skip-llamacpp] [--quick] [--model HF_DIR]
                                 [--adapter PEFT_DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import llamacpp
from compare_report import render_markdown
from membw import measure_bandwidth_subprocess
from systems import GenAI, Prefixdeploy, TorchPeft, build_genai, export_bundles, model_key, token_agreement
from tqdm import tqdm

from prefixdeploy.bench.measure import RequestTiming, machine_info, summarize
from prefixdeploy.bench.scenarios import PROMPT_TEXT

log = logging.getLogger("compare")

PROMPT_LENGTH, NEW_TOKENS, PREFIX_LENGTH = 56, 32, 16
ALL_PRECISIONS = ("fp32", "fp16", "int8", "int4")
GENAI_PRECISIONS = ("fp32", "int4")


@dataclass
class Entry:
    """One system at one precision: its runner and every timed request."""

    system: str  # "PyTorch + PEFT eager" | "ONNX Runtime GenAI" | "llama.cpp" | "prefixdeploy"
    precision: str  # llama.cpp: its GGUF format (F32, Q8_0, Q4_1, Q4_0)
    prefix_length: int  # 0: no prefix
    runner: object
    detail: str = ""  # e.g. the graph file
    timings: list[RequestTiming] = field(default_factory=list)
    tokens: list[int] | None = None  # the new tokens of its first request

    @property
    def label(self) -> str:
        return f"{self.system} {self.precision}"

    def median(self, attr: str) -> float:
        return statistics.median(getattr(t, attr) for t in self.timings)

    def percentile(self, attr: str, q: float) -> float:
        """As `prefixdeploy bench` reports them (linear interpolation)."""
        return summarize(getattr(t, attr) for t in self.timings)[f"p{round(q * 100)}"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repetitions", type=int, default=10, help="timed rounds (each runs every system once)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    p.add_argument("--precisions", default=",".join(ALL_PRECISIONS), help="prefixdeploy precisions to try")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS.md", help="the Markdown report")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON here")
    p.add_argument("--skip-torch", action="store_true", help="leave out PyTorch + PEFT")
    p.add_argument("--skip-genai", action="store_true", help="leave out ONNX Runtime GenAI")
    p.add_argument("--skip-llamacpp", action="store_true", help="leave out llama.cpp (left out if not installed)")
    p.add_argument("--quick", action="store_true", help="a tiny smoke run: 1 round, no warmup, 8 tokens, 128 MiB")
    p.add_argument("--model", type=Path, default=None, help="HF model directory (default: SmolLM2-135M-Instruct)")
    p.add_argument("--adapter", type=Path, default=None, help="PEFT prefix-tuning adapter (default: random, P=16)")
    p.add_argument("--cache", type=Path, default=None, help="where GenAI models and GGUF files are built once")
    p.add_argument("--work", type=Path, default=None, help="where bundles are exported (default: a temp dir)")
    p.add_argument(
        "--reuse-export",
        action="store_true",
        help="time the bundles an earlier run exported into --work (export first, time later under a lock)",
    )
    args = p.parse_args(argv)
    args.precisions = [s.strip() for s in args.precisions.split(",") if s.strip()]
    bad = [s for s in args.precisions if s not in ALL_PRECISIONS]
    if args.reuse_export and args.work is None:
        p.error("--reuse-export needs --work (where the earlier run exported)")
    if bad or not args.precisions or args.repetitions < 1 or args.warmup < 0:
        p.error(f"--precisions takes a comma list of {', '.join(ALL_PRECISIONS)}; --repetitions ≥ 1, --warmup ≥ 0")
    args.new_tokens, args.bandwidth_gib, args.bandwidth_rounds = NEW_TOKENS, 1.0, 10
    if args.quick:
        args.repetitions, args.warmup, args.new_tokens, args.bandwidth_gib, args.bandwidth_rounds = 1, 0, 8, 0.125, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="compare: %(message)s", stream=sys.stderr)
    from prefixdeploy.exporter.fetch import fetch_smollm2_dir
    from prefixdeploy.runtime.cache import cache_dir

    model_dir = args.model or fetch_smollm2_dir()
    cache = args.cache or cache_dir("bench")
    with tempfile.TemporaryDirectory(prefix="prefixdeploy-compare-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        reused = args.reuse_export and (work / "demo" / "adapter_config.json").is_file()
        adapter = args.adapter or (work / "demo" if reused else make_adapter(model_dir, work / "demo", PREFIX_LENGTH))
        prompt = make_prompt(model_dir, PROMPT_LENGTH)
        load_before = _load_average()
        before = measure_bandwidth(args)
        entries, notes = load_systems(args, model_dir, adapter, prompt, cache, work)
        run_interleaved(entries, args.warmup, args.repetitions)
        # Measured before and after the timing, the best counts: a busy neighbour lowers what one pass sees.
        bandwidth = best_bandwidth(before, measure_bandwidth(args))
        report = build_report(args, model_dir, adapter, entries, notes, bandwidth)
        report["load_average"] = {"start": load_before, "end": _load_average()}
        for e in entries:
            if hasattr(e.runner, "close"):
                e.runner.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    args.out.write_text(markdown)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown)


def _load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on a shared machine shows here."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def measure_bandwidth(args) -> dict:
    log.info("measuring memory read bandwidth (%.3g GiB, best of %d)", args.bandwidth_gib, args.bandwidth_rounds)
    return measure_bandwidth_subprocess(args.bandwidth_gib, args.bandwidth_rounds)


def best_bandwidth(before: dict, after: dict) -> dict:
    best = dict(max(before, after, key=lambda b: b["gb_per_s"]))
    best["before_gb_per_s"], best["after_gb_per_s"] = before["gb_per_s"], after["gb_per_s"]
    return best


def make_adapter(model_dir: Path, out: Path, P: int) -> Path:
    """A PEFT prefix-tuning adapter with PEFT's own random init (seeded): timing does not depend on its values."""
    import torch
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    get_peft_model(base, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P)).save_pretrained(out)
    return out


def make_prompt(model_dir: Path, length: int) -> list[int]:
    """Exactly `length` token ids: the bench's fixed text, tokenized by the model's tokenizer, repeated and trimmed."""
    from tokenizers import Tokenizer

    base = Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(PROMPT_TEXT).ids
    return (base * (length // len(base) + 1))[:length]


def load_systems(args, model_dir: Path, adapter: Path, prompt: list[int], cache: Path, work: Path):
    entries: list[Entry] = []
    notes: list[str] = []
    P = _adapter_length(adapter)
    if not args.skip_torch:
        log.info("loading PyTorch + PEFT")
        torch_runner = TorchPeft(model_dir, adapter, prompt, args.new_tokens)
        timing, cached = torch_runner.run()
        uncached = torch_runner.uncached_tokens()
        if cached != uncached:
            raise SystemExit(
                f"compare: the cached PEFT loop gives {cached}, the uncached one {uncached}; not timing it"
            )
        notes.append(f"PyTorch + PEFT: the cached greedy loop's {len(cached)} tokens equal the uncached loop's.")
        notes.append(f"PyTorch threads: {torch_runner.threads} (torch's default).")
        entries.append(Entry("PyTorch + PEFT eager", "fp32", P, torch_runner))
    if not args.skip_genai:
        for precision in GENAI_PRECISIONS:
            path = build_genai(model_dir, precision, cache)
            entries.append(Entry("ONNX Runtime GenAI", precision, 0, GenAI(path, prompt, args.new_tokens), path.name))
    if not args.skip_llamacpp and llamacpp.available():
        entries += llamacpp_entries(args, model_dir, prompt, cache)
    bundles, skipped = export_bundles(model_dir, adapter, args.precisions, work, reuse=args.reuse_export)
    notes += skipped
    for precision, (bundle, graph) in bundles.items():
        runner = Prefixdeploy(bundle, graph, "demo", prompt, args.new_tokens)
        entries.append(Entry("prefixdeploy", precision, P, runner, graph))
    return entries, notes


def llamacpp_entries(args, model_dir: Path, prompt: list[int], cache: Path) -> list[Entry]:
    """llama.cpp on a GGUF of every format paired with one of --precisions (bare model, as GenAI)."""
    from prefixdeploy.exporter.fetch import fetch_smollm2

    formats = [fmt for p in args.precisions for fmt in llamacpp.PAIRS.get(p, ())]
    shipped = None if args.model else fetch_smollm2()  # SmolLM2's own Q4_1 file
    files = llamacpp.gguf_files(model_dir, formats, cache / "llamacpp", model_key(model_dir), shipped)
    runners = {fmt: llamacpp.LlamaCpp(path, prompt, args.new_tokens) for fmt, path in files.items()}
    return [Entry(llamacpp.SYSTEM, fmt, 0, runner, files[fmt].name) for fmt, runner in runners.items()]


def _adapter_length(adapter: Path) -> int:
    return int(json.loads((adapter / "adapter_config.json").read_text())["num_virtual_tokens"])


def run_interleaved(entries: list[Entry], warmup: int, repetitions: int) -> None:
    """Rounds of A B C …, so that slow phases of the machine hit every system alike; warmup rounds are not kept."""
    total = (warmup + repetitions) * len(entries)
    with tqdm(total=total, unit="req", disable=not sys.stderr.isatty(), leave=False) as progress:
        for round_ in range(warmup + repetitions):
            for entry in entries:
                progress.set_description_str(entry.label)
                timing, tokens = entry.runner.run()
                assert timing.tokens == len(tokens), entry.label
                entry.tokens = entry.tokens or tokens
                if round_ >= warmup:
                    entry.timings.append(timing)
                progress.update(1)


def build_report(args, model_dir: Path, adapter: Path, entries: list[Entry], notes: list[str], bandwidth: dict):
    bw = bandwidth["gb_per_s"] * 1e9  # bytes/s
    rows = []
    for e in entries:
        weights = e.runner.weight_bytes()
        floor = weights / bw
        rows.append({
            "system": e.system, "precision": e.precision, "prefix_length": e.prefix_length, "detail": e.detail,
            "requests": len(e.timings),
            "request_latency_s": e.median("latency"), "request_latency_p90_s": e.percentile("latency", 0.9),
            "time_to_first_token_s": e.median("ttft"), "time_per_output_token_s": e.median("tpot"),
            "weight_bytes_per_token": weights, "memory_floor_s_per_token": floor,
            "tpot_over_floor": e.median("tpot") / floor,
        })  # fmt: skip
    notes = notes + token_notes(entries)
    for e in entries:
        if isinstance(e.runner, GenAI) and e.runner.setup:
            setup = statistics.median(e.runner.setup[-len(e.timings) :])
            notes.append(f"GenAI {e.precision}: creating the og.Generator took {setup * 1e3:.1f} ms of its TTFT.")
    return {
        "model": str(model_dir) if args.model else f"SmolLM2-135M-Instruct ({model_dir})",
        "adapter": str(adapter) if args.adapter else f"a random PEFT adapter (P={PREFIX_LENGTH}, PEFT's init, seed 0)",
        "prompt_tokens": PROMPT_LENGTH,
        "new_tokens": args.new_tokens,
        "warmup": args.warmup,
        "repetitions": args.repetitions,
        "quick": args.quick,
        "machine": versions(),
        "bandwidth": bandwidth,
        "results": rows,
        "ratios": ratios(entries),
        "llamacpp": llamacpp.report(entries),
        "notes": notes + llamacpp.token_notes(entries),
    }


def token_notes(entries: list[Entry]) -> list[str]:
    """Agreement of greedy tokens: prefixdeploy fp32 with PyTorch + PEFT (same prefix), other precisions with fp32."""
    by = {(e.system, e.precision): e for e in entries}
    torch_e, fp32 = by.get(("PyTorch + PEFT eager", "fp32")), by.get(("prefixdeploy", "fp32"))
    out = []
    for e in entries:
        if e.system != "prefixdeploy":
            continue
        ref, ref_name = (torch_e, "PyTorch + PEFT") if e.precision == "fp32" else (fp32, "prefixdeploy fp32")
        if ref is not None and ref.tokens and e.tokens:
            common, same, n = token_agreement(e.tokens, ref.tokens)
            out.append(
                f"prefixdeploy {e.precision}: the first {common} of {n} greedy tokens equal {ref_name}'s "
                f"({same}/{n} positions equal)."
            )
    if any(e.system == "prefixdeploy" and e.precision != "fp32" for e in entries):
        out.append(
            "Agreement of the reduced precisions depends on the prefix: the default adapter is random (PEFT's init), "
            "and once one token differs the rest follow another path. Pass --adapter with a trained one to judge it."
        )
    return out


TARGETS = (
    # (key, description, numerator, denominator, metric, target, "le" | "ge")
    ("prefixdeploy_fp32_over_genai_fp32", "prefixdeploy fp32 / GenAI fp32, request latency",
     ("prefixdeploy", "fp32"), ("ONNX Runtime GenAI", "fp32"), "latency", 0.9, "le"),
    ("prefixdeploy_int4_over_genai_int4", "prefixdeploy int4 / GenAI int4, request latency",
     ("prefixdeploy", "int4"), ("ONNX Runtime GenAI", "int4"), "latency", 0.9, "le"),
    ("torch_over_prefixdeploy_fp32_tpot", "PyTorch eager TPOT / prefixdeploy fp32 TPOT",
     ("PyTorch + PEFT eager", "fp32"), ("prefixdeploy", "fp32"), "tpot", 2.5, "ge"),
    ("torch_over_prefixdeploy_int4_tpot", "PyTorch eager TPOT / prefixdeploy int4 TPOT",
     ("PyTorch + PEFT eager", "fp32"), ("prefixdeploy", "int4"), "tpot", 8.0, "ge"),
)  # fmt: skip


def ratios(entries: list[Entry]) -> dict:
    """The issue's target ratios (None when a system was skipped); also TTFT and TPOT ratios for the GenAI pairs."""
    by = {(e.system, e.precision): e for e in entries}
    out = {}
    for key, text, num, den, metric, target, sense in TARGETS:
        a, b = by.get(num), by.get(den)
        value = a.median(metric) / b.median(metric) if a and b else None
        met = None if value is None else (value <= target if sense == "le" else value >= target)
        extra = {}
        if a and b and metric == "latency":
            extra = {
                "ttft_ratio": a.median("ttft") / b.median("ttft"),
                "tpot_ratio": a.median("tpot") / b.median("tpot"),
            }
        out[key] = {"description": text, "value": value, "target": target, "sense": sense, "met": met, **extra}
    return out


def versions() -> dict:
    info = machine_info()
    for name in ("onnxruntime_genai", "llama_cpp", "torch", "transformers", "peft", "prefixdeploy"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    return info


if __name__ == "__main__":
    main()
