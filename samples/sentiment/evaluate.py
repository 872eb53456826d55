"""Score the sentiment prefix on the test split with prefixdeploy's runtime (batched, greedy), against the bare
model on the raw review and the bare model with a hand-written instruction (zero-shot, chat template).

    python samples/sentiment/evaluate.py [--model MODEL] [--prefix samples/sentiment/sentiment.safetensors]

Metric: accuracy (%). A prediction is the first of "positive" / "negative" that the output mentions (case-blind),
so the chatty zero-shot answers are not penalized for their wording.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samples/harness.py
from harness import Condition, add_sample_arguments, evaluate_sample  # noqa: E402

TASK = "sentiment"
LABELS = ("positive", "negative")
INSTRUCTION = (
    "Is the sentiment of this product review positive or negative? Answer with one word: positive or negative.\n\n"
    "Review: {text}"
)
CONDITIONS = [
    Condition("base raw", None),
    Condition("zero-shot instruction", None, chat=True, prompt=lambda text: INSTRUCTION.format(text=text)),
    Condition("prefix", TASK),
]


def predicted_label(text: str) -> str | None:
    lowered = text.lower()
    found = {label: lowered.find(label) for label in LABELS if label in lowered}
    return min(found, key=found.get) if found else None


def score(outputs: list[str], records: list[dict]) -> dict[str, float]:
    right = sum(predicted_label(out) == r["output"] for out, r in zip(outputs, records))
    return {"accuracy": 100.0 * right / len(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sample_arguments(parser, Path(__file__).parent, TASK)
    evaluate_sample(parser.parse_args(), TASK, CONDITIONS, score, max_new_tokens=16)


if __name__ == "__main__":
    main()
