"""Per-family numbers for docs/families.md: parity with PEFT, quantized drift and graph sizes on tiny random models.

    .venv/bin/python tools/families_report.py [FAMILY ...]   # default: every family with a parity fixture

Each family: its tiny random model (tests/tiny_models.py, the real transformers config class) and two PEFT adapters
(P = 5, and P = 9 with the MLP reparameterization), exported switchable with fp32, int8 and int4 ONNX Runtime graphs.
Four rows of both prefixes and two prompt lengths run in one batch for 32 greedy steps.
Prints a Markdown table: max |Δ logits| against PEFT's forward() per graph, whether every greedy token matched,
int8/int4 error on the first logits as a fraction of the gap between the two prefixes' logits, the step where the
quantized greedy tokens first leave fp32's (— if never), and the graph sizes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's package, and the test helpers

from reference import peft_greedy  # noqa: E402
from tiny_models import make_peft_adapter, make_tiny_model  # noqa: E402

from prefixdeploy.exporter.export import ExportConfig, export_bundle  # noqa: E402
from prefixdeploy.runtime.bundle import load_bundle  # noqa: E402
from prefixdeploy.runtime.generate import GenerationConfig  # noqa: E402

FAMILIES = ("gpt2", "llama", "mistral", "qwen2", "qwen3", "llama3", "gemma3_text", "gemma2", "phi3", "granite")
PROMPTS = ("the quick brown fox", "hello world, how are you today? prefix tuning")
ROWS = [("short", PROMPTS[0]), ("long", PROMPTS[1]), ("long", PROMPTS[0]), ("short", PROMPTS[1])]
STEPS = 32
GREEDY = GenerationConfig(max_new_tokens=STEPS, ignore_eos=True)
QUANTIZED = ("int8", "int4")


def run_rows(bundle) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """The rows' prompt ids, greedy tokens (B, STEPS) and logits (B, STEPS, V), in one batch."""
    ids = [bundle.encode(prompt) for _, prompt in ROWS]
    steps = list(bundle.steps(ids, [name for name, _ in ROWS], GREEDY))
    return ids, np.stack([s.tokens for s in steps], 1), np.stack([s.logits for s in steps], 1)


def parity(bundle_dir: Path, graph: str, model: Path, adapters: dict) -> tuple[float, bool]:
    with load_bundle(bundle_dir, graph=graph) as bundle:
        ids, tokens, logits = run_rows(bundle)
    worst, same = 0.0, True
    for row, (name, _) in enumerate(ROWS):
        ref_tokens, ref_logits = peft_greedy(model, adapters[name], ids[row], STEPS)
        worst = max(worst, float(np.abs(logits[row] - ref_logits).max()))
        same &= tokens[row].tolist() == ref_tokens
    return worst, same


def drift(bundle_dir: Path, precision: str, fp32: tuple) -> tuple[float, str]:
    """First-step error ÷ prefix gap (worst row) and the first step where greedy tokens leave fp32's."""
    _, tokens32, logits32 = fp32
    with load_bundle(bundle_dir, precision=precision) as bundle:
        _, tokens, logits = run_rows(bundle)
    ratios = []
    for row in range(len(ROWS)):
        other = next(r for r in range(len(ROWS)) if ROWS[r][1] == ROWS[row][1] and r != row)
        gap = np.abs(logits32[other, 0] - logits32[row, 0]).max()
        ratios.append(np.abs(logits[row, 0] - logits32[row, 0]).max() / gap)
    differ = np.nonzero((tokens != tokens32).any(axis=0))[0]
    return float(max(ratios)), "—" if differ.size == 0 else str(int(differ[0]) + 1)


def size_kib(bundle_dir: Path, graph: str) -> str:
    files = [bundle_dir / graph, *bundle_dir.glob(graph + ".data")]
    return f"{sum(f.stat().st_size for f in files if f.exists()) / 1024:.0f}"


def report(kind: str, work: Path) -> str:
    model = make_tiny_model(kind, work / "model")
    adapters = {
        "short": make_peft_adapter(model, work / "short", 5, seed=1),
        "long": make_peft_adapter(model, work / "long", 9, True, seed=2),
    }
    specs = tuple(f"{name}={path}" for name, path in adapters.items())
    bundle = export_bundle(ExportConfig(str(model), specs, work / "bundle", precisions=("fp32", *QUANTIZED)))
    portable = parity(bundle, "model.onnx", model, adapters)
    ort = parity(bundle, "model.ort.fp32.onnx", model, adapters)
    with load_bundle(bundle, precision="fp32") as fp32_bundle:
        fp32 = run_rows(fp32_bundle)
    drifts = [drift(bundle, precision, fp32) for precision in QUANTIZED]
    sizes = [size_kib(bundle, g) for g in ("model.onnx", *(f"model.ort.{p}.onnx" for p in ("fp32", *QUANTIZED)))]
    cells = [
        kind,
        f"{portable[0]:.1e}",
        f"{ort[0]:.1e}",
        "yes" if portable[1] and ort[1] else "**no**",
        *(f"{ratio:.2f} / {step}" for ratio, step in drifts),
        " / ".join(sizes),
    ]
    return "| " + " | ".join(cells) + " |"


def main(kinds: list[str]) -> None:
    print(
        "| family | max \\|Δ logits\\| portable | ort fp32 | greedy tokens identical | int8: error ÷ gap / "
        "first differing step | int4 | graph KiB: portable / fp32 / int8 / int4 |"
    )
    print("|---|---:|---:|---|---:|---:|---|")
    for kind in kinds:
        with tempfile.TemporaryDirectory() as work:
            print(report(kind, Path(work)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(FAMILIES))
