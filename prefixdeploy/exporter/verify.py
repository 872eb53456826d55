"""`prefixdeploy verify`: a bundle's outputs against the PyTorch reference, for every prefix.

Compares the logits of every greedy step (up to the first token that differs) and the greedy tokens themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.exporter.model import LoadedModel, load_model
from prefixdeploy.exporter.reference import reference_greedy
from prefixdeploy.runtime.bundle import Bundle, load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

log = logging.getLogger(__name__)

DEFAULT_PROMPTS = (
    "The quick brown fox",
    "Once upon a time, in a small village,",
    "Question: what is the capital of France? Answer:",
)


@dataclass(frozen=True)
class VerifyConfig:
    bundle: Path
    model: str
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    new_tokens: int = 32  # greedy tokens compared per prompt (EOS ignored)
    atol: float = 1e-3  # max |Δ logits| allowed at fp32
    graph: str | None = None  # which of the bundle's graphs (default: the first)

    def __post_init__(self):
        if self.new_tokens < 1:
            raise PrefixDeployError(f"--new-tokens must be at least 1, got {self.new_tokens}")
        if not self.prompts:
            raise PrefixDeployError("give at least one --prompt")


@dataclass(frozen=True)
class VerifyRow:
    prefix: str
    prompt: str
    first_logits_diff: float  # max |Δ| of the first step's logits
    max_logits_diff: float  # max |Δ| over the steps before the first differing token
    tokens_matched: int  # leading greedy tokens that agree
    tokens_total: int

    def ok(self, atol: float) -> bool:
        return self.max_logits_diff <= atol and self.tokens_matched == self.tokens_total


def verify_bundle(config: VerifyConfig, loaded: LoadedModel | None = None) -> list[VerifyRow]:
    loaded = loaded or load_model(config.model)
    with load_bundle(config.bundle, graph=config.graph) as bundle:
        if bundle.manifest.model.fingerprint != loaded.facts.fingerprint:
            log.warning("the bundle was exported from other weights than %s (fingerprints differ)", config.model)
        names = list(bundle.prefixes) if bundle.prefixes else [None]
        return [
            _compare(bundle, loaded, name, prompt, config.new_tokens) for name in names for prompt in config.prompts
        ]


def _compare(bundle: Bundle, loaded: LoadedModel, name: str | None, prompt: str, n: int) -> VerifyRow:
    ids = bundle.encode(prompt)
    steps = list(bundle.steps([ids], [name], GenerationConfig(max_new_tokens=n, ignore_eos=True)))
    ours_tokens = [int(s.tokens[0]) for s in steps]
    ours_logits = np.stack([s.logits[0] for s in steps])  # (n, V)
    ref_tokens, ref_logits = reference_greedy(loaded.model, bundle.resolve(name), ids, n)
    matched = next((i for i, (a, b) in enumerate(zip(ours_tokens, ref_tokens)) if a != b), n)
    compared = max(matched, 1)  # logits of steps whose inputs were the same
    diff = np.abs(ours_logits[:compared] - ref_logits[:compared]).max(axis=-1)  # (compared,)
    return VerifyRow(name or "(none)", prompt, float(diff[0]), float(diff.max()), matched, n)


def format_rows(rows: list[VerifyRow], atol: float) -> str:
    header = f"{'prefix':<16} {'prompt':<32} {'max|Δlogits| first':>18} {'max|Δlogits| all':>16} {'tokens':>9}  result"
    lines = [header, "-" * len(header)]
    for r in rows:
        prompt = r.prompt if len(r.prompt) <= 30 else r.prompt[:29] + "…"
        tokens = f"{r.tokens_matched}/{r.tokens_total}"
        result = "ok" if r.ok(atol) else "MISMATCH"
        lines.append(
            f"{r.prefix:<16} {prompt:<32} {r.first_logits_diff:>18.2e} {r.max_logits_diff:>16.2e} {tokens:>9}  {result}"
        )
    return "\n".join(lines)
