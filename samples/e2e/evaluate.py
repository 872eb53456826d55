"""Score the e2e prefix on the test split with prefixdeploy's runtime (batched, greedy), against the bare model on
the raw meaning representation and the bare model with a hand-written instruction (zero-shot, chat template).

    python samples/e2e/evaluate.py [--model MODEL] [--prefix samples/e2e/e2e.safetensors]

Metrics: BLEU (sacrebleu, corpus level, against each record's three references) and slot coverage (%): the fraction
of slot values that appear in the output, case-blind ("city centre" also as "centre of the city");
familyFriendly[yes|no] counts as said when the output mentions "family", "child" or "kid".
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samples/harness.py
from harness import Condition, add_sample_arguments, evaluate_sample  # noqa: E402

TASK = "e2e"
INSTRUCTION = (
    "Write one fluent English sentence that describes this restaurant and mentions every one of its attributes.\n\n"
    "{text}"
)
CONDITIONS = [
    Condition("base raw", None),
    Condition("zero-shot instruction", None, chat=True, prompt=lambda text: INSTRUCTION.format(text=text)),
    Condition("prefix", TASK),
]
SLOT_RE = re.compile(r"([A-Za-z ]+)\[([^\]]*)\]")


def slot_values(mr: str) -> list[tuple[str, str]]:
    return [(slot.strip(), value) for slot, value in SLOT_RE.findall(mr)]


SAYINGS = {"city centre": ("city centre", "centre of the city", "city center", "center of the city")}


def covered(slot: str, value: str, text: str) -> bool:
    text = text.lower()
    if slot == "familyFriendly":
        return any(word in text for word in ("family", "child", "kid"))
    return any(saying in text for saying in SAYINGS.get(value.lower(), (value.lower(),)))


def score(outputs: list[str], records: list[dict]) -> dict[str, float]:
    import sacrebleu

    hypotheses = [out.strip() for out in outputs]
    references = [r.get("references", [r["output"]]) for r in records]
    streams = [[refs[min(i, len(refs) - 1)] for refs in references] for i in range(max(map(len, references)))]
    bleu = sacrebleu.corpus_bleu(hypotheses, streams).score
    slots = [(s, v, out) for r, out in zip(records, hypotheses) for s, v in slot_values(r["input"])]
    coverage = 100.0 * sum(covered(s, v, out) for s, v, out in slots) / len(slots)
    return {"BLEU": bleu, "slot coverage": coverage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sample_arguments(parser, Path(__file__).parent, TASK)
    evaluate_sample(parser.parse_args(), TASK, CONDITIONS, score, max_new_tokens=64)


if __name__ == "__main__":
    main()
