"""How far each precision's kernels move the margin between a step's two best logits: compare.KERNEL_MOVES's numbers.

For every ONNX Runtime graph of the check's bundles (the tiny Llama bundles as check.py exports them, and the SmolLM2
sample bundle at every precision) and each case: greedy decoding, one token per step (ONNX Runtime's one-row path);
then each step again as the last position of one prefill of the same history (the several-row path); and, for the
quantized and fp16 graphs, the fp32 graph on that history. A step's margin is its top two logits' difference, taken
on the decoding path; the script prints, per graph, the largest move of that margin between the paths, and the
largest move of any logit.

    python tools/edge/kernel_moves.py [--work DIR] [--max-new-tokens 32] [--smollm2-prompts 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "tests"), str(REPO / "samples")]

from check import export_tiny, plan_graphs  # noqa: E402

SMOLLM2_PRECISIONS = ("fp32", "fp16", "int8", "int4")


def margin_move(ref: np.ndarray, other: np.ndarray) -> float:
    """|Δ (logit[a] − logit[b])| for `ref`'s two best tokens a, b; ref and other (V,) logits of one step."""
    a, b = np.argsort(-ref, kind="stable")[:2]
    return abs(float((ref[a] - ref[b]) - (other[a] - other[b])))


def decode(bundle, prefix: str | None, prompt_ids: list[int], n: int) -> tuple[list[int], list[np.ndarray]]:
    """Greedy tokens and each step's (V,) logits, one new token per forward."""
    from prefixdeploy.runtime.generate import GenerationConfig

    steps = list(bundle.steps([prompt_ids], [prefix], GenerationConfig(max_new_tokens=n, ignore_eos=True)))
    return [int(s.tokens[0]) for s in steps], [s.logits[0] for s in steps]


def prefill_logits(bundle, prefix: str | None, prompt_ids: list[int], tokens: list[int]) -> list[np.ndarray]:
    """Step k's (V,) logits as the last position of one forward over prompt + tokens[:k] (several rows)."""
    from prefixdeploy.runtime.generate import GenerationConfig

    one = GenerationConfig(max_new_tokens=1, ignore_eos=True)
    return [next(iter(bundle.steps([prompt_ids + tokens[:k]], [prefix], one))).logits[0] for k in range(len(tokens))]


def measure_graph(bundle_dir: Path, graph: str, cases: list[dict], n: int, fp32_graph: str | None = None) -> dict:
    """The largest margin and logit moves of `graph` over `cases` (plan cases: prefix, prompt)."""
    from prefixdeploy.runtime.bundle import load_bundle

    rows, logits, against_fp32 = [], [], []
    with load_bundle(bundle_dir, graph=graph) as bundle:
        histories = []
        for case in cases:
            ids = bundle.encode(case["prompt"])
            tokens, decoded = decode(bundle, case["prefix"], ids, n)
            prefilled = prefill_logits(bundle, case["prefix"], ids, tokens)
            rows += [margin_move(d, p) for d, p in zip(decoded, prefilled)]
            logits += [float(np.abs(d - p).max()) for d, p in zip(decoded, prefilled)]
            histories.append((case["prefix"], ids, tokens, prefilled))
    if fp32_graph is not None:
        with load_bundle(bundle_dir, graph=fp32_graph) as reference:
            for prefix, ids, tokens, prefilled in histories:
                exact = prefill_logits(reference, prefix, ids, tokens)
                against_fp32 += [margin_move(p, e) for p, e in zip(prefilled, exact)]
    return {
        "one_vs_several_rows": max(rows, default=0.0),
        "one_vs_several_rows_any_logit": max(logits, default=0.0),
        "vs_fp32_graph": max(against_fp32) if against_fp32 else None,
    }


def measure_bundle(bundle: Path, work: Path, prompts, n: int) -> list[tuple[str, str, dict]]:
    """(bundle name, precision, moves) for each ONNX Runtime graph of `bundle`."""
    graphs = [g for g in plan_graphs(bundle, work, prompts, portable=False)]
    fp32 = next((g["file"] for g in graphs if g["label"] == "fp32"), None)
    return [
        (bundle.name, g["label"], measure_graph(bundle, g["file"], g["cases"], n, fp32 if g["file"] != fp32 else None))
        for g in graphs
    ]


def export_smollm2_all(bundles: Path, prompts_per_prefix: int) -> tuple[Path, dict[str, list[str]]]:
    from demo import INPUTS, SAMPLE_PREFIXES

    from prefixdeploy.exporter.export import ExportConfig, export_bundle
    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    config = ExportConfig(
        str(fetch_smollm2_dir()), SAMPLE_PREFIXES, bundles / "smollm2", force=True, precisions=SMOLLM2_PRECISIONS
    )
    return export_bundle(config), {name: inputs[:prompts_per_prefix] for name, inputs in INPUTS.items()}


def format_moves(measured: list[tuple[str, str, dict]]) -> str:
    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3g}"

    lines = [
        "| bundle | graph | top-two margin, one row vs several | any logit, one row vs several | margin vs fp32 |",
        "|---|---|---:|---:|---:|",
    ]
    for bundle, label, m in measured:
        lines.append(
            f"| {bundle} | {label} | {fmt(m['one_vs_several_rows'])} | {fmt(m['one_vs_several_rows_any_logit'])} "
            f"| {fmt(m['vs_fp32_graph'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "edge-out" / "kernel-moves")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--smollm2-prompts", type=int, default=1, help="Demo inputs per sample prefix (0: skip).")
    args = parser.parse_args(argv)
    bundles = args.work / "bundles"
    made = export_tiny(bundles)
    if args.smollm2_prompts > 0:
        made.append(export_smollm2_all(bundles, args.smollm2_prompts))
    measured = [
        row for bundle, prompts in made for row in measure_bundle(bundle, args.work, prompts, args.max_new_tokens)
    ]
    print(format_moves(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
