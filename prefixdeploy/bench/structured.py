"""The structured scenario: what a JSON-schema constraint costs per output token, and what compiling it costs. No torch.

On given inputs (a task's prompts, with the chosen prefix) and a schema (`--json-schema`): the compile time (the
grammar engine's tokenizer built once per bundle, then the schema, then the same schema again from the cache), and
the decode time per step with and without the constraint, at batch 1 and at the mixed-batch size (8): each batch
runs both ways in turn, the order alternating per round, so a busy machine slows both alike. Greedy, up to
`--output-length` new tokens, a row stopping at EOS (a constrained row where its JSON ends). Decode time is the
first step to the last (prefill excluded: a constraint only adds a mask per token); the ratio is constrained over
plain time per decode step. Outputs that parse as JSON are counted each way, and the outputs that differ.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.constraints import Constraint, Grammars
from prefixdeploy.runtime.generate import GenerationConfig, generate_steps


@dataclass
class StepTotals:
    steps: int = 0  # decode steps (each step one token per row), after each run's first
    seconds: float = 0.0  # first step -> last step, summed
    parsed: int = 0  # outputs that parse as JSON (timed rounds)
    outputs: int = 0

    @property
    def ms_per_step(self) -> float:
        return 1e3 * self.seconds / self.steps if self.steps else 0.0


@dataclass
class BatchComparison:
    batch_size: int
    plain: StepTotals = field(default_factory=StepTotals)
    constrained: StepTotals = field(default_factory=StepTotals)
    differ: int = 0  # outputs (timed rounds) where the constraint changed the tokens

    @property
    def ratio(self) -> float:
        return self.constrained.ms_per_step / self.plain.ms_per_step if self.plain.ms_per_step else 0.0

    def to_json(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "plain_ms_per_step": self.plain.ms_per_step,
            "constrained_ms_per_step": self.constrained.ms_per_step,
            "ratio": self.ratio,
            "plain_steps": self.plain.steps,
            "constrained_steps": self.constrained.steps,
            "plain_parsed": f"{self.plain.parsed}/{self.plain.outputs}",
            "constrained_parsed": f"{self.constrained.parsed}/{self.constrained.outputs}",
            "outputs_changed": self.differ,
        }


@dataclass
class StructuredComparison:
    prefix: str | None
    schema: str  # the file
    inputs: int
    tokenizer_setup_s: float = 0.0  # the grammar engine's view of the vocabulary, once per bundle
    compile_s: float = 0.0  # the schema, the first time
    cached_compile_s: float = 0.0  # the same schema again
    batches: list[BatchComparison] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "prefix": self.prefix,
            "schema": self.schema,
            "inputs": self.inputs,
            "tokenizer_setup_ms": 1e3 * self.tokenizer_setup_s,
            "compile_ms": 1e3 * self.compile_s,
            "cached_compile_ms": 1e3 * self.cached_compile_s,
            "batches": [b.to_json() for b in self.batches],
        }

    def format(self) -> list[str]:
        name = self.prefix or "(no prefix)"
        lines = [
            f"structured (schema {self.schema}, prefix {name}, {self.inputs} inputs): compile "
            f"{1e3 * self.compile_s:.1f} ms (cached {1e3 * self.cached_compile_s:.3f} ms; the engine's tokenizer "
            f"{1e3 * self.tokenizer_setup_s:.0f} ms once per bundle)"
        ]
        for b in self.batches:
            lines.append(
                f"  batch {b.batch_size}: {b.constrained.ms_per_step:.2f} ms per decode step constrained, "
                f"{b.plain.ms_per_step:.2f} plain: ×{b.ratio:.3f}; JSON that parses "
                f"{b.constrained.parsed}/{b.constrained.outputs} constrained, {b.plain.parsed}/{b.plain.outputs} "
                f"plain; outputs changed by the constraint: {b.differ}"
            )
        return lines


def read_schema(path: Path) -> Constraint:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read json_schema {path}: {e.strerror}", "json_schema") from None
    return Constraint.json_schema(text, field="json_schema")


def compare_structured(bundle, prefix: str | None, prompts: list[str], config) -> StructuredComparison:
    """Compile times, then every batch of prompts plain and constrained: `config.warmup` untimed + `config.repetitions`
    timed rounds, at batch 1 and at `config.mixed_batch_size`."""
    constraint = read_schema(config.json_schema)
    result = StructuredComparison(prefix, Path(config.json_schema).name, len(prompts))
    grammars = Grammars(bundle.codec.tokenizer, bundle.manifest.vocab_size, bundle.manifest.eos_token_ids)
    start = time.perf_counter()
    grammars.compile(Constraint.choice(["x"]))  # builds the engine's tokenizer (once per bundle)
    result.tokenizer_setup_s = time.perf_counter() - start
    compiled, result.compile_s = _timed(grammars.compile, constraint)
    _, result.cached_compile_s = _timed(grammars.compile, constraint)
    ids = [bundle.encode(p, prefix=prefix) for p in prompts]
    gen = GenerationConfig(max_new_tokens=config.output_length)
    for size in sorted({1, config.mixed_batch_size}):
        batch = BatchComparison(size)
        for round_ in range(config.warmup + config.repetitions):
            for start in range(0, len(ids), size):
                rows = ids[start : start + size]
                ways = [(batch.plain, None), (batch.constrained, compiled)]
                outputs = {}
                for totals, way in ways if round_ % 2 == 0 else ways[::-1]:
                    outputs[way is None] = _run(bundle, rows, prefix, gen, way, totals, round_ >= config.warmup)
                if round_ >= config.warmup:
                    batch.differ += sum(a != b for a, b in zip(outputs[True], outputs[False]))
        result.batches.append(batch)
    return result


def _run(bundle, rows, prefix, gen, compiled, totals: StepTotals, timed: bool) -> list[list[int]]:
    """One batch's greedy outputs (each up to its EOS); adds its decode time and parsed outputs to `totals`."""
    own = [(compiled.processor(),) for _ in rows] if compiled is not None else ()
    names, inplace = [bundle.resolve(prefix)] * len(rows), bundle.graph.kind == "ort"
    steps = generate_steps(bundle.backend, bundle.manifest, rows, names, gen, inplace, row_processors=own)
    outputs: list[list[int]] = [[] for _ in rows]
    n, first = 0, 0.0
    for step in steps:
        if n == 0:
            first = time.perf_counter()
        n += 1
        for r, token in enumerate(step.tokens.tolist()):
            if not step.finished[r]:
                outputs[r].append(token)
    seconds = time.perf_counter() - first
    if timed:
        totals.steps, totals.seconds = totals.steps + n - 1, totals.seconds + seconds
        totals.parsed += sum(_parses(bundle.codec.decode(out)) for out in outputs)
        totals.outputs += len(outputs)
    return outputs


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start
