"""What `prefixdeploy bench` measures: the scenarios as workloads (which prefixes each call's rows use) and the
fixed synthetic prompts. Must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefixdeploy.bench.config import (
    ALTERNATING,
    MIXED_BATCH,
    NO_PREFIX,
    PREFIX,
    PROMPT_LOOKUP,
    STRUCTURED,
    TEXT_PREFIX,
    BenchConfig,
)
from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.caches import check_context

# Real text, tokenized and then repeated or trimmed to exactly the requested prompt length.
PROMPT_TEXT = (
    "The committee met on Tuesday morning to review the quarterly report. Revenue grew in every region except the "
    "north, where a late shipment of parts delayed two large orders. The board asked for a plan to recover the lost "
    "sales before the end of the year, and for a short summary of the risks that remain in the supply chain."
)
# The text-prefix scenario's instruction block, repeated or trimmed to `--text-prefix-length` tokens.
INSTRUCTION_TEXT = (
    "You are an assistant that reads business reports. Answer in plain English, in at most three sentences. Name "
    "every region, product and date that the report mentions, keep numbers exactly as written, and never guess a "
    "figure the report does not give. If the report is unclear, say which part is unclear and why. "
)
TEXT_PREFIX_NAME = "bench.text-prefix"  # the in-memory prefix the scenario adds (never written to the bundle)


@dataclass(frozen=True)
class Workload:
    """Requests to time: call i uses the row prefixes `calls[i % len(calls)]` (one entry per row)."""

    scenario: str
    name: str  # the label in the table and the JSON
    calls: tuple[tuple[str | None, ...], ...]
    role: str = ""  # its part in a ratio: a prefix name (prefix scenario), "mixed", "single", "batch1", "stored"...
    lead: tuple[int, ...] = ()  # token ids placed before every row's prompt (text-prefix: the block in the prompt)

    @property
    def batch_size(self) -> int:
        return len(self.calls[0])


@dataclass(frozen=True)
class Skipped:
    scenario: str
    name: str
    reason: str


def plan_workloads(bundle, config: BenchConfig) -> list[Workload | Skipped]:
    """The workloads of the chosen scenarios, in order; a scenario the bundle cannot run is Skipped with a reason."""
    names = chosen_prefixes(bundle, config.prefixes)
    planners = {
        PREFIX: _prefix,
        NO_PREFIX: _no_prefix,
        ALTERNATING: _alternating,
        MIXED_BATCH: _mixed_batch,
        TEXT_PREFIX: _text_prefix,
        PROMPT_LOOKUP: lambda *_: [],  # not a timed workload: see bench/lookup.py
        STRUCTURED: lambda *_: [],  # nor this: see bench/structured.py
    }
    plan: list[Workload | Skipped] = []
    for scenario in config.scenarios:
        plan += planners[scenario](bundle, names, config)
    return plan


def chosen_prefixes(bundle, restrict: tuple[str, ...]) -> list[str]:
    """The bundle's prefix names in manifest order, or `restrict` (each checked: unknown names list the known)."""
    for name in restrict:
        bundle.resolve(name)
    if len(set(restrict)) != len(restrict):
        raise ConfigError(f"prefixes names a prefix more than once: {', '.join(restrict)}", "prefixes")
    return list(restrict) or list(bundle.manifest.prefix_names)


def prefix_length(bundle, name: str | None) -> int:
    return bundle.prefixes[name].num_virtual_tokens if name is not None else 0


def _prefix(bundle, names: list[str], config: BenchConfig) -> list[Workload | Skipped]:
    if not names:
        return [Skipped(PREFIX, PREFIX, "the bundle has no prefixes")]
    B = config.batch_size
    return [Workload(PREFIX, f"prefix {n}", ((n,) * B,), role=n) for n in names]


def _no_prefix(bundle, names: list[str], config: BenchConfig) -> list[Workload | Skipped]:
    if bundle.manifest.mode == "baked":
        return [Skipped(NO_PREFIX, "no prefix", "baked")]
    return [Workload(NO_PREFIX, "no prefix", ((None,) * config.batch_size,))]


def _alternating(bundle, names: list[str], config: BenchConfig) -> list[Workload | Skipped]:
    label = "alternating " + "/".join(names)
    if len(names) < 2:
        return [Skipped(ALTERNATING, label, f"needs ≥ 2 prefixes, {len(names)} chosen")]
    return [Workload(ALTERNATING, label, tuple((n,) * config.batch_size for n in names))]


def _mixed_batch(bundle, names: list[str], config: BenchConfig) -> list[Workload | Skipped]:
    """A batch whose rows cycle through the prefixes, the same batch with one prefix, and that prefix at batch 1.

    The one prefix is the longest: a mixed batch pads every row to its longest prefix, so comparing with that
    prefix measures the cost of mixing rather than the cost of a longer prefix.
    """
    Bm = config.mixed_batch_size
    if not names:
        return [Skipped(MIXED_BATCH, f"mixed ×{Bm}", "the bundle has no prefixes")]
    longest = max(names, key=lambda n: prefix_length(bundle, n))
    out: list[Workload | Skipped] = []
    if len(names) < 2:
        out.append(Skipped(MIXED_BATCH, f"mixed ×{Bm}", f"needs ≥ 2 prefixes, {len(names)} chosen"))
    else:
        out.append(Workload(MIXED_BATCH, f"mixed ×{Bm}", (tuple(names[r % len(names)] for r in range(Bm)),), "mixed"))
    out.append(Workload(MIXED_BATCH, f"{longest} ×{Bm}", ((longest,) * Bm,), "single"))
    out.append(Workload(MIXED_BATCH, f"{longest} ×1", ((longest,),), "batch1"))
    return out


def _text_prefix(bundle, names: list[str], config: BenchConfig) -> list[Workload | Skipped]:
    """An instruction block of `--text-prefix-length` tokens stored as a prefix, against the same block in the prompt.

    Adds the prefix to the loaded bundle in memory (computed with the bundle's own graph, not timed).
    """
    from prefixdeploy.runtime.text_prefix import prefix_from_text

    n, label = config.text_prefix_length, f"text {config.text_prefix_length}"
    if bundle.manifest.mode == "baked":
        return [Skipped(TEXT_PREFIX, label, "baked")]
    need = n + config.prompt_length + config.output_length
    if need > bundle.manifest.max_context:
        why = f"block {n} + prompt + output = {need} tokens exceeds the context of {bundle.manifest.max_context}"
        return [Skipped(TEXT_PREFIX, label, why)]
    block = _token_stream(bundle, INSTRUCTION_TEXT, n)
    bundle.add_prefix(prefix_from_text(bundle, block, name=TEXT_PREFIX_NAME))
    B = config.batch_size
    return [
        Workload(TEXT_PREFIX, f"{label} stored as prefix", ((TEXT_PREFIX_NAME,) * B,), role="stored"),
        Workload(TEXT_PREFIX, f"{label} in the prompt", ((None,) * B,), role="in-prompt", lead=tuple(block)),
    ]


def synthetic_prompts(bundle, length: int, rows: int) -> list[list[int]]:
    """`rows` prompts of exactly `length` token ids: PROMPT_TEXT's tokens repeated, row r starting r tokens later."""
    stream = _token_stream(bundle, PROMPT_TEXT, length + rows)
    return [stream[r : r + length] for r in range(rows)]


def _token_stream(bundle, text: str, length: int) -> list[int]:
    """`text`'s token ids repeated or trimmed to exactly `length`."""
    base = bundle.encode(text)
    if not base:
        raise PrefixDeployError("the bundle's tokenizer encodes the benchmark text to no tokens")
    return (base * (length // len(base) + 1))[:length]


def check_plan_fits(bundle, plan: list[Workload | Skipped], config: BenchConfig) -> None:
    """Fail before timing anything if the longest prefix + prompt + new tokens exceeds the model's context."""
    used = {n for w in plan if isinstance(w, Workload) for call in w.calls for n in call}
    longest = max((prefix_length(bundle, n) for n in used), default=0)
    fix, fields = "lower prompt_length or output_length", ("prompt_length", "output_length")
    check_context(bundle.manifest.max_context, longest, config.prompt_length, config.output_length, fix, fields)
