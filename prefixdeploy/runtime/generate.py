"""The generation loop, top to bottom: pick each row's prefix, seed the cache, step, choose. Must not import torch.

Shape letters: B rows, V vocab (the caches' own in `caches.py`). Every token is chosen through the one token-choice
seam (`sampling.choose_tokens`): each row's processors, then greedy or sampling; prompt lookup's verify too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass

import numpy as np

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.backends import Backend
from prefixdeploy.runtime.caches import ConcatCache, InPlaceCache, check_rows_fit
from prefixdeploy.runtime.constraints import Constraint
from prefixdeploy.runtime.lookup import Drafter, LookupStats, check_prompt_lookup, lookup_decode
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.runtime.sampling import GREEDY, LogitsProcessor, TokenChoice, choose_token, choose_tokens, log_softmax


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 64
    _: KW_ONLY  # the options below are passed by name
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    min_p: float = 0.0  # 0: off; tokens less likely than min_p times the most likely one are dropped (after top-p)
    seed: int | None = None  # sampling seed; None: fresh entropy
    ignore_eos: bool = False  # generate exactly max_new_tokens
    prompt_lookup: int = 0  # K > 0: greedy rows alone in their batch draft up to K tokens from the sequence (lookup.py)
    logits_processors: tuple[LogitsProcessor, ...] = ()  # every row's, in order, before the choice (sampling.py)
    constraint: Constraint | None = None  # every row's output must match it (constraints.py; the bundle compiles it)

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}", "max_new_tokens")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be ≥ 0, got {self.temperature}", "temperature")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be ≥ 0, got {self.top_k}", "top_k")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}", "top_p")
        if not 0.0 <= self.min_p <= 1.0:
            raise ConfigError(f"min_p must be in [0, 1], got {self.min_p}", "min_p")
        check_prompt_lookup(self.prompt_lookup)
        if self.constraint is not None and not isinstance(self.constraint, Constraint):
            raise ConfigError(f"constraint must be a Constraint, got {type(self.constraint).__name__}", "constraint")
        if self.prompt_lookup and self.temperature > 0:
            raise ConfigError(
                "prompt_lookup verifies drafts against greedy choices; use it with temperature 0 (the default)",
                "prompt_lookup",
                "temperature",
            )

    def token_choices(self, row_processors: Sequence[tuple[LogitsProcessor, ...]]) -> list[TokenChoice]:
        """How each row of a call chooses: one RNG for the batch (rows draw in order), the shared processors, then
        the row's own (`row_processors[r]`: stateful ones, such as a constraint's matcher, are made per row)."""
        rng = np.random.default_rng(self.seed) if self.temperature > 0 else None
        return [
            TokenChoice(self.temperature, self.top_k, self.top_p, rng, self.logits_processors + own, self.min_p)
            for own in row_processors
        ]


@dataclass(frozen=True)
class Step:
    tokens: np.ndarray  # (B,) int64, the token each row picked (pad for rows already finished)
    logits: np.ndarray  # (B, V) float32, the scores it was picked from
    finished: np.ndarray  # (B,) bool, rows that had finished before this step


def generate_steps(
    backend: Backend,
    manifest: Manifest,
    prompts: list[list[int]],
    prefixes: list[Prefix | None],
    config: GenerationConfig,
    inplace: bool = False,
    lookup_stats: LookupStats | None = None,
    lookup_earlier: Sequence[np.ndarray] = (),
    row_processors: Sequence[tuple[LogitsProcessor, ...]] = (),
) -> Iterator[Step]:
    """Yield one Step per new token for a batch of prompts, row r continuing prefix `prefixes[r]`.

    inplace: the graph is the ONNX Runtime variant (fused attention over preallocated KV buffers); otherwise the
    portable graph, whose cache grows by concatenation. config.prompt_lookup applies to a batch of one row (larger
    batches decode one token per step); lookup_stats, if given, receives what it did; lookup_earlier: more draft
    sources than the sequence itself (e.g. earlier answers of the same task, `lookup.EarlierOutputs`);
    row_processors: each row's own processors after config's (one tuple per row; a compiled `config.constraint`'s
    processor, made by `Bundle.steps`), default none.
    """
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, prompts, prefixes, config.max_new_tokens)
    logits = cache.prefill()  # (B, V)
    choices = config.token_choices(row_processors or [()] * len(prompts))
    if config.prompt_lookup and len(prompts) == 1 and cache.extends:
        eos = set() if config.ignore_eos else set(manifest.eos_token_ids)
        stats = lookup_stats if lookup_stats is not None else LookupStats()
        drafter = Drafter(config.prompt_lookup)
        steps = lookup_decode(
            cache,
            logits,
            prompts[0],
            config.max_new_tokens,
            eos,
            lambda z, history: choose_token(z, choices[0], history),
            drafter,
            stats,
            lookup_earlier,
        )
        for token, row in steps:
            yield Step(np.array([token]), row[None], np.zeros(1, bool))  # (1,), (1, V), (1,)
        return

    eos = np.array(manifest.eos_token_ids, np.int64)
    finished = np.zeros(len(prompts), bool)  # (B,)
    outputs: list[list[int]] = [[] for _ in prompts]  # each row's tokens so far (its processors' history)
    for n in range(config.max_new_tokens):
        tokens = choose_tokens(logits, choices, outputs)  # (B,)
        tokens = np.where(finished, manifest.pad_token_id, tokens)
        yield Step(tokens, logits, finished.copy())
        if not config.ignore_eos:
            finished |= np.isin(tokens, eos)
            if finished.all():
                return
        if n + 1 < config.max_new_tokens:
            for output, token in zip(outputs, tokens.tolist()):
                output.append(token)
            logits = cache.step(tokens)  # (B, V)


@dataclass(frozen=True)
class Scores:
    """Teacher forcing over ids: per position t ≥ 1, what the model made of ids[t] given ids[:t] (and the prefix)."""

    logprobs: np.ndarray  # (len(ids) − 1,) float64: log p(ids[t] | ids[:t])
    argmax: np.ndarray  # (len(ids) − 1,) int64: the model's greedy choice at t, given ids[:t]


def score_tokens(
    backend: Backend, manifest: Manifest, ids: list[int], prefix: Prefix | None, inplace: bool = False
) -> Scores:
    """Teacher-forced log-probabilities and greedy choices for ids[1:] given what precedes them (and the prefix).

    Feeds one token per step through the same cache path as generation, so every graph variant can be scored.
    """
    if len(ids) < 2:
        raise PrefixDeployError(f"scoring needs at least 2 tokens (the first is only context); got {len(ids)}")
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, [ids[:1]], [prefix], len(ids) - 1)
    logits = cache.prefill()  # (1, V)
    scores, choices = [], []
    for t in range(1, len(ids)):
        scores.append(log_softmax(logits[0])[ids[t]])  # (V,) -> log p(ids[t])
        choices.append(choose_token(logits[0], GREEDY, ()))  # the raw model's greedy choice
        if t + 1 < len(ids):
            logits = cache.step(np.array([ids[t]], np.int64))
    return Scores(np.array(scores), np.array(choices, np.int64))


def fill_cache(
    backend: Backend, manifest: Manifest, ids: list[int], prefix: Prefix | None, inplace: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Run ids on top of `prefix` (batch 1) and return the cache they leave: keys and values, each (L, H_kv, P+T, D).

    The keys carry the position encoding the graph gave them (token t at position P + t), so the cache is a prefix
    whose next real token sits at P + T: exactly where it would sit with ids placed before it in the prompt.
    """
    check_rows_fit(manifest, [ids], np.array([prefix.num_virtual_tokens if prefix else 0]), 1)
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, [ids], [prefix], 0)
    cache.prefill()
    return cache.row_kv()
