"""The samples' evaluation harness: measure a trained prefix the way users run it. Export a switchable bundle, then
generate a JSONL split's outputs through prefixdeploy's runtime (batched, greedy) under several conditions (prefix,
bare model, instruction), score them and print a table.

The samples' eval scripts (`samples/*/evaluate.py`) use this; each adds only its prompts and its metric. It is a
script helper, not library code (argparse, print), so it lives here rather than in the package.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import Bundle
from prefixdeploy.runtime.generate import GenerationConfig


@dataclass(frozen=True)
class Condition:
    """One way to prompt the model: a prefix (or None for the bare model), the chat template or not, and the
    text sent for each record's input (e.g. an instruction around it)."""

    name: str
    prefix: str | None
    chat: bool = False
    prompt: Callable[[str], str] = str


def read_jsonl(path: str | Path) -> list[dict]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def export_eval_bundle(model: str, prefixes: dict[str, Path], output: Path) -> Path:
    """A switchable bundle of `model` holding `prefixes` ({name: file}); rows may also run without a prefix."""
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    specs = tuple(f"{name}={path}" for name, path in prefixes.items())
    return export_bundle(ExportConfig(model, specs, Path(output), mode="switchable", force=True))


def generate_texts(
    bundle: Bundle, prompts: list[str], condition: Condition, max_new_tokens: int, batch_size: int = 16
) -> list[str]:
    """Greedy outputs (decoded, special tokens skipped) for each prompt, in order. Prompts are batched by length
    so that left padding wastes little; each batch is one forward pass per step."""
    if not prompts:
        raise PrefixDeployError("no prompts to evaluate")
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    texts = [condition.prompt(p) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(bundle.encode(texts[i], condition.chat)))
    out: list[str] = [""] * len(texts)
    for start in tqdm(range(0, len(order), batch_size), desc=condition.name, unit="batch", disable=None):
        rows = order[start : start + batch_size]
        done = bundle.generate([texts[i] for i in rows], [condition.prefix] * len(rows), config, chat=condition.chat)
        for i, generation in zip(rows, done):
            out[i] = generation.text
    return out


def run_conditions(
    bundle: Bundle, prompts: list[str], conditions: list[Condition], max_new_tokens: int, batch_size: int = 16
) -> dict[str, tuple[list[str], float]]:
    """{condition name: (outputs, seconds)} for every condition."""
    results = {}
    for condition in conditions:
        start = time.perf_counter()
        outputs = generate_texts(bundle, prompts, condition, max_new_tokens, batch_size)
        results[condition.name] = (outputs, time.perf_counter() - start)
    return results


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def add_sample_arguments(parser, task_dir: Path, task: str) -> None:
    """The options every sample's eval script takes."""
    parser.add_argument("--model", default=None, help="model dir or .gguf (default: SmolLM2-135M-Instruct via pip)")
    parser.add_argument("--prefix", type=Path, default=task_dir / f"{task}.safetensors", help="the trained prefix")
    parser.add_argument("--data", type=Path, default=task_dir / "data" / "test.jsonl", help="the split to score")
    parser.add_argument(
        "--bundle", type=Path, default=None, help="where to export the bundle, replacing it (default: a temp dir)"
    )
    parser.add_argument("--limit", type=int, default=None, help="score only the first N records")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="also write scores and outputs here")


def evaluate_sample(args, task: str, conditions: list[Condition], score, max_new_tokens: int) -> dict:
    """Export a bundle with the task's prefix, run every condition on the split, score, print a table.

    score(outputs, records) -> {metric: value in [0, 100]}. Returns {condition: {metric: value, "seconds": s}}.
    """
    import tempfile

    from prefixdeploy.runtime.bundle import load_bundle

    if not Path(args.data).is_file():
        raise PrefixDeployError(f"{args.data} does not exist; run samples/{task}/make_data.py first")
    records = read_jsonl(args.data)[: args.limit]
    model = args.model
    if model is None:
        from prefixdeploy.exporter.fetch import fetch_smollm2

        model = str(fetch_smollm2())
    with tempfile.TemporaryDirectory() as tmp:
        path = export_eval_bundle(model, {task: args.prefix}, args.bundle or Path(tmp) / "bundle")
        with load_bundle(path) as bundle:
            results = run_conditions(bundle, [r["input"] for r in records], conditions, max_new_tokens, args.batch_size)
    scores = {name: {**score(outputs, records), "seconds": round(sec, 1)} for name, (outputs, sec) in results.items()}
    metrics = [k for k in next(iter(scores.values())) if k != "seconds"]
    rows = [[name, *(f"{s[m]:.1f}" for m in metrics), s["seconds"]] for name, s in scores.items()]
    print(f"{task}: {len(records)} records of {args.data}")
    print(markdown_table(["condition", *metrics, "seconds"], rows))
    if args.json:
        outputs = {name: outs for name, (outs, _) in results.items()}
        args.json.write_text(json.dumps({"scores": scores, "outputs": outputs}, indent=1, ensure_ascii=False))
    return scores
