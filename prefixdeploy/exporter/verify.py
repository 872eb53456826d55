"""`prefixdeploy verify`: every graph of a bundle against the PyTorch reference, for every prefix.

fp32 graphs must match: logits of every greedy step (up to the first differing token) within `atol`, and the same
greedy tokens. Every graph, quantized ones included, reports its greedy token agreement with the fp32 reference over
a prompt set — free-running (position by position: one early flip sends the rest down another path) and
teacher-forced (each step given the reference's history) — and its perplexity on a text sample against the
reference's.
"""

from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import numpy as np

from prefixdeploy.errors import ConfigError
from prefixdeploy.exporter.reference import reference_greedy, reference_logprobs
from prefixdeploy.exporter.verify_data import DEFAULT_PROMPTS, DEFAULT_TEXT
from prefixdeploy.models.load import LoadedModel, load_model
from prefixdeploy.runtime.bundle import Bundle, load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.manifest import read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyConfig:
    bundle: Path
    model: str
    _: KW_ONLY  # the options below are passed by name
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    new_tokens: int = 32  # greedy tokens compared per prompt (EOS ignored)
    # Max |Δ logits| allowed for fp32 graphs. fp32 summation order alone moves SmolLM2-135M's logits (30 layers,
    # 49k vocabulary) by up to 7.5e-3 over 88-token contexts: PyTorch with and without its KV cache differ by
    # 7.4e-4 on the same prompt. A real export bug moves them by whole units and changes greedy tokens.
    atol: float = 1e-2
    text: str = DEFAULT_TEXT  # perplexity sample

    def __post_init__(self):
        if self.new_tokens < 1:
            raise ConfigError(f"new_tokens must be at least 1, got {self.new_tokens}", "new_tokens")
        if not self.prompts:
            raise ConfigError("prompts must not be empty; give at least one", "prompts")


@dataclass(frozen=True, kw_only=True)
class VerifyRow:
    graph: str
    precision: str
    prefix: str
    max_logits_diff: float  # max |Δ| over the steps up to and including each prompt's first differing token
    tokens_matched: int  # free-running greedy tokens equal to the reference's at the same position, all prompts
    tokens_total: int
    forced_matched: int  # teacher-forced: greedy choices equal to the reference's, given the reference's history
    perplexity: float
    reference_perplexity: float
    scored_with: str = "without a prefix"  # which prefix the perplexity sample ran with (the same for every row)

    @property
    def agreement(self) -> float:
        return self.tokens_matched / self.tokens_total

    @property
    def forced_agreement(self) -> float:
        return self.forced_matched / self.tokens_total

    @property
    def perplexity_change(self) -> float:
        return self.perplexity / self.reference_perplexity - 1.0

    def ok(self, atol: float) -> bool | None:
        """fp32 graphs: parity holds. Other precisions are reported, not judged (None)."""
        if self.precision != "fp32":
            return None
        return self.max_logits_diff <= atol and self.tokens_matched == self.tokens_total


@dataclass
class _Reference:
    tokens: dict  # (prefix, prompt) -> greedy tokens
    logits: dict  # (prefix, prompt) -> (n, V)
    logprobs: np.ndarray  # the text sample's


def verify_bundle(config: VerifyConfig, loaded: LoadedModel | None = None) -> list[VerifyRow]:
    loaded = loaded or load_model(config.model)
    rows: list[VerifyRow] = []
    reference = None
    manifest = read_manifest(config.bundle)
    if manifest.model.fingerprint != loaded.facts.fingerprint:
        log.warning("the bundle was exported from other weights than %s (fingerprints differ)", config.model)
    for i, graph in enumerate(manifest.graphs):  # the bundle's files are hashed once, with the first graph
        with load_bundle(config.bundle, graph=graph.file, verify_hashes=i == 0) as bundle:
            reference = reference or _reference(bundle, loaded, config)
            rows += _compare(bundle, reference, config)
    return rows


def _scored_prefix(bundle: Bundle) -> str | None:
    """Perplexity measures the model: with no prefix where the bundle allows it, else its first prefix."""
    return None if bundle.manifest.mode == "switchable" else next(iter(bundle.prefixes))


def _prefix_names(bundle: Bundle) -> list[str | None]:
    return list(bundle.prefixes) or [None]


def _text_ids(bundle: Bundle, config: VerifyConfig) -> list[int]:
    """The perplexity sample's tokens, cut to what fits the context after the scored prefix."""
    ids = bundle.encode(config.text)
    prefix = bundle.resolve(_scored_prefix(bundle))
    room = bundle.manifest.max_context - (prefix.num_virtual_tokens if prefix else 0)
    if len(ids) > room:
        log.info("perplexity sample: scoring its first %d of %d tokens (the context holds %d)", room, len(ids), room)
    if len(ids[:room]) < 2:
        raise ConfigError(f"the perplexity sample (text) needs at least 2 tokens; it has {len(ids[:room])}", "text")
    return ids[:room]


def _reference(bundle: Bundle, loaded: LoadedModel, config: VerifyConfig) -> _Reference:
    tokens, logits = {}, {}
    for name in _prefix_names(bundle):
        prefix = bundle.resolve(name)
        for prompt in config.prompts:
            ids = bundle.encode(prompt)
            tokens[name, prompt], logits[name, prompt] = reference_greedy(loaded.module, prefix, ids, config.new_tokens)
    logprobs = reference_logprobs(loaded.module, bundle.resolve(_scored_prefix(bundle)), _text_ids(bundle, config))
    return _Reference(tokens, logits, logprobs)


def _compare(bundle: Bundle, ref: _Reference, config: VerifyConfig) -> list[VerifyRow]:
    greedy = GenerationConfig(max_new_tokens=config.new_tokens, ignore_eos=True)
    perplexity = float(np.exp(-bundle.score(_text_ids(bundle, config), _scored_prefix(bundle)).logprobs.mean()))
    reference_perplexity = float(np.exp(-ref.logprobs.mean()))
    rows = []
    for name in _prefix_names(bundle):
        prefix = bundle.resolve(name)  # once per prefix; steps and score carry the object
        matched, forced, worst = 0, 0, 0.0
        for prompt in config.prompts:
            ids = bundle.encode(prompt)
            steps = list(bundle.steps([ids], [prefix], greedy))
            ours = [int(s.tokens[0]) for s in steps]
            theirs = ref.tokens[name, prompt]
            matched += sum(a == b for a, b in zip(ours, theirs))
            choices = bundle.score(ids + list(theirs), prefix).argmax[len(ids) - 1 :]  # given the reference's history
            forced += int((choices == np.asarray(theirs)).sum())
            same = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), len(ours))
            compared = min(same + 1, len(ours))  # steps whose inputs were the same: up to the first differing one
            diff = np.abs(np.stack([s.logits[0] for s in steps[:compared]]) - ref.logits[name, prompt][:compared])
            worst = max(worst, float(diff.max()))
        total = len(config.prompts) * config.new_tokens
        g = bundle.graph
        rows.append(
            VerifyRow(
                graph=g.file,
                precision=g.precision,
                prefix=name or "(none)",
                max_logits_diff=worst,
                tokens_matched=matched,
                tokens_total=total,
                forced_matched=forced,
                perplexity=perplexity,
                reference_perplexity=reference_perplexity,
                scored_with=f"with prefix {scored!r}" if (scored := _scored_prefix(bundle)) else "without a prefix",
            )
        )
    return rows


def format_rows(rows: list[VerifyRow], atol: float) -> str:
    header = (
        f"{'graph':<22} {'precision':<9} {'prefix':<14} {'max|Δlogits|':>12} {'greedy agreement':>17} "
        f"{'teacher-forced':>14} {'perplexity':>10} {'Δppl':>7}  result"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        verdict = {True: "ok", False: "MISMATCH", None: "reported"}[r.ok(atol)]
        agreement = f"{r.tokens_matched}/{r.tokens_total} {r.agreement:5.1%}"
        lines.append(
            f"{r.graph:<22} {r.precision:<9} {r.prefix:<14} {r.max_logits_diff:>12.2e} {agreement:>17} "
            f"{r.forced_agreement:>14.1%} {r.perplexity:>10.3f} {r.perplexity_change:>+7.2%}  {verdict}"
        )
    if rows:
        lines.append(
            "greedy agreement: free-running tokens equal to the PyTorch fp32 reference's at the same position; "
            "teacher-forced: greedy choices equal to the reference's given the reference's own history"
        )
        lines.append(
            f"perplexity: the --text sample scored {rows[0].scored_with}; "
            f"reference perplexity (PyTorch fp32): {rows[0].reference_perplexity:.3f}"
        )
    return "\n".join(lines)
