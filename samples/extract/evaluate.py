"""Score the extract prefix on the test split with prefixdeploy's runtime (batched, greedy), against the bare
model on the raw sentence and the bare model with a hand-written instruction (zero-shot, chat template).

    python samples/extract/evaluate.py [--model MODEL] [--prefix samples/extract/extract.safetensors]

Metrics (%): exact match (the output, stripped, is exactly the target JSON) and, for information, fields (the
first {...} in the output parses as JSON with the right person and city, whatever the formatting around it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samples/harness.py
from harness import Condition, add_sample_arguments, evaluate_sample  # noqa: E402

TASK = "extract"
INSTRUCTION = (
    "Extract the person and the city named in the sentence. Answer only with JSON of exactly this form: "
    '{{"person": "<name>", "city": "<city>"}}\n\nSentence: {text}'
)
CONDITIONS = [
    Condition("base raw", None),
    Condition("zero-shot instruction", None, chat=True, prompt=lambda text: INSTRUCTION.format(text=text)),
    Condition("prefix", TASK),
]


def fields(text: str) -> dict | None:
    match = re.search(r"\{.*?\}", text, re.S)
    try:
        return json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        return None


def score(outputs: list[str], records: list[dict]) -> dict[str, float]:
    exact = sum(out.strip() == r["output"] for out, r in zip(outputs, records))
    same = sum(fields(out) == json.loads(r["output"]) for out, r in zip(outputs, records))
    return {"exact match": 100.0 * exact / len(records), "fields": 100.0 * same / len(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sample_arguments(parser, Path(__file__).parent, TASK)
    evaluate_sample(parser.parse_args(), TASK, CONDITIONS, score, max_new_tokens=40)


if __name__ == "__main__":
    main()
