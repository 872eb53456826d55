"""The prompt-lookup scenario: decode tokens/s with and without `--prompt-lookup K` on given inputs. No torch.

Three ways per input, interleaved (the order rotates per repetition) so that a busy machine slows all alike: plain
decoding; lookup drafting from the sequence only (prompt and output); and lookup also drafting from earlier outputs
of the task, namely the other inputs' answers (never the input's own: that would be its answer). The outputs must be
identical (greedy), and acceptance rates are summed over the timed runs. Decode time is first token -> last token
(prefill excluded: lookup does not change it); a run that ends at its first token adds no decode time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.generate import GenerationConfig, generate_steps
from prefixdeploy.runtime.lookup import LookupStats


@dataclass
class DecodeTotals:
    tokens: int = 0  # tokens after each run's first
    seconds: float = 0.0  # first token -> last token, summed

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


@dataclass
class LookupComparison:
    prefix: str | None
    k: int
    inputs: int
    plain: DecodeTotals = field(default_factory=DecodeTotals)
    lookup: DecodeTotals = field(default_factory=DecodeTotals)
    stats: LookupStats = field(default_factory=LookupStats)
    earlier: DecodeTotals = field(default_factory=DecodeTotals)  # also drafting from the other inputs' answers
    earlier_stats: LookupStats = field(default_factory=LookupStats)
    mismatches: int = 0  # timed runs (any of the three ways) whose output differed from plain decoding's

    @property
    def speedup(self) -> float:
        return self.lookup.tokens_per_s / self.plain.tokens_per_s if self.plain.tokens_per_s else 0.0

    @property
    def earlier_speedup(self) -> float:
        return self.earlier.tokens_per_s / self.plain.tokens_per_s if self.plain.tokens_per_s else 0.0

    def to_json(self) -> dict:
        return {
            "prefix": self.prefix,
            "k": self.k,
            "inputs": self.inputs,
            "plain_decode_tokens_per_s": self.plain.tokens_per_s,
            "lookup_decode_tokens_per_s": self.lookup.tokens_per_s,
            "speedup": self.speedup,
            "acceptance": self.stats.acceptance,
            "drafted": self.stats.drafted,
            "accepted": self.stats.accepted,
            "verifies": self.stats.verifies,
            "plain_steps": self.stats.steps,
            "with_earlier_outputs": {
                "lookup_decode_tokens_per_s": self.earlier.tokens_per_s,
                "speedup": self.earlier_speedup,
                "acceptance": self.earlier_stats.acceptance,
                "drafted": self.earlier_stats.drafted,
                "accepted": self.earlier_stats.accepted,
                "verifies": self.earlier_stats.verifies,
                "plain_steps": self.earlier_stats.steps,
            },
            "mismatches": self.mismatches,
        }

    def format(self) -> list[str]:
        name = self.prefix or "(no prefix)"
        return [
            f"prompt lookup (K = {self.k}, prefix {name}, {self.inputs} inputs): decode "
            f"{self.lookup.tokens_per_s:.1f} tok/s with, {self.plain.tokens_per_s:.1f} without: ×{self.speedup:.2f}; "
            f"acceptance {self.stats.acceptance:.0%} ({self.stats.accepted}/{self.stats.drafted} drafted tokens, "
            f"{self.stats.verifies} verifies, {self.stats.steps} plain steps); output mismatches: {self.mismatches}",
            f"  also drafting from the other inputs' answers: {self.earlier.tokens_per_s:.1f} tok/s: "
            f"×{self.earlier_speedup:.2f}; acceptance {self.earlier_stats.acceptance:.0%} "
            f"({self.earlier_stats.accepted}/{self.earlier_stats.drafted}, {self.earlier_stats.verifies} verifies, "
            f"{self.earlier_stats.steps} plain steps)",
        ]


def read_inputs(path: Path) -> list[str]:
    """Prompts from a file: JSONL records with an "input" field (the samples' data), else one prompt per line."""
    try:
        lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as e:
        raise ConfigError(f"cannot read inputs {path}: {e.strerror}", "inputs") from None
    if not lines:
        raise ConfigError(f"inputs {path} has no prompts", "inputs")
    if lines[0].lstrip().startswith("{"):
        try:
            return [json.loads(line)["input"] for line in lines]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f'inputs {path}: each JSON line needs an "input" string', "inputs") from None
    return lines


def compare_lookup(bundle, prefix: str | None, prompts: list[str], config) -> LookupComparison:
    """Time every prompt plain, with lookup, and with lookup and the other prompts' answers as earlier outputs:
    `config.warmup` untimed + `config.repetitions` timed rounds."""
    ids = [bundle.encode(p, prefix=prefix) for p in prompts]
    plain = GenerationConfig(max_new_tokens=config.output_length)
    looked = GenerationConfig(max_new_tokens=config.output_length, prompt_lookup=config.prompt_lookup)
    answers = [_decode(bundle, row, prefix, plain, LookupStats())[0] for row in ids]  # untimed
    result = LookupComparison(prefix, config.prompt_lookup, len(prompts))
    ways = [
        (plain, (), result.plain, LookupStats()),
        (looked, (), result.lookup, result.stats),
        (looked, None, result.earlier, result.earlier_stats),  # None: the other inputs' answers
    ]
    arrays = [np.asarray(a, np.int64) for a in answers]
    others = [[a for j, a in enumerate(arrays) if j != i][::-1] for i in range(len(ids))]  # never the input's own
    for round_ in range(config.warmup + config.repetitions):
        timed = round_ >= config.warmup
        for i, row in enumerate(ids):
            for gen, source, totals, stats in ways[round_ % 3 :] + ways[: round_ % 3]:
                run_stats = LookupStats()
                tokens, seconds = _decode(bundle, row, prefix, gen, run_stats, others[i] if source is None else ())
                result.mismatches += timed and tokens != answers[i]
                if timed:
                    totals.tokens, totals.seconds = totals.tokens + len(tokens) - 1, totals.seconds + seconds
                    stats.add(run_stats)
    return result


def _decode(bundle, ids: list[int], prefix: str | None, gen: GenerationConfig, stats: LookupStats, earlier=()):
    """(tokens, seconds from the first token to the last) of one greedy run."""
    rows, inplace = [bundle.resolve(prefix)], bundle.graph.kind == "ort"
    steps = generate_steps(bundle.backend, bundle.manifest, [ids], rows, gen, inplace, stats, earlier)
    tokens, first = [], 0.0
    for step in steps:
        if not tokens:
            first = time.perf_counter()
        tokens.append(int(step.tokens[0]))
    return tokens, time.perf_counter() - first
