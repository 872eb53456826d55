"""The generation loop, top to bottom: pick each row's prefix, seed the cache, step, sample. Must not import torch.

Shape letters: B rows, T tokens fed this step, P_max longest prefix among the rows, S cache length, L layers,
H_kv kv heads, D head dim, V vocab. Rows are left-padded: padding slots carry attention_mask 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from prefixdeploy.errors import ContextLengthError, PrefixDeployError
from prefixdeploy.runtime import manifest as names
from prefixdeploy.runtime.backends import Backend
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.runtime.sampling import sample_next


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    seed: int | None = None  # sampling seed; None: fresh entropy
    ignore_eos: bool = False  # generate exactly max_new_tokens

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise PrefixDeployError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise PrefixDeployError(f"--temperature must be ≥ 0, got {self.temperature}")
        if self.top_k < 0:
            raise PrefixDeployError(f"--top-k must be ≥ 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise PrefixDeployError(f"--top-p must be in (0, 1], got {self.top_p}")


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
) -> Iterator[Step]:
    """Yield one Step per new token for a batch of prompts, row r continuing prefix `prefixes[r]`."""
    B = len(prompts)
    baked = manifest.mode == "baked"
    lengths = np.array([p.num_virtual_tokens if p else 0 for p in prefixes])  # (B,) each row's P
    _check_fits(manifest, prompts, lengths, config.max_new_tokens)

    # Left-pad the prompts; each real token t of row r sits at position P_r + t (PEFT's convention).
    T = max(len(p) for p in prompts)
    ids = np.full((B, T), manifest.pad_token_id, np.int64)  # (B, T)
    prompt_mask = np.zeros((B, T), np.int64)  # (B, T)
    for r, p in enumerate(prompts):
        ids[r, T - len(p) :], prompt_mask[r, T - len(p) :] = p, 1
    pos = np.maximum(np.cumsum(prompt_mask, axis=1) - 1, 0)  # (B, T)

    feeds = {names.INPUT_IDS: ids}
    if baked:  # the graph prepends its own prefix and offsets positions
        past, mask = _empty_cache(manifest, B), prompt_mask  # S = 0; (B, T)
        if manifest.is_bank:
            feeds[names.PREFIX_IDS] = np.array([manifest.prefix(p.name).bank_index for p in prefixes], np.int64)
    else:
        past, prefix_mask = seed_with_prefix(manifest, prefixes)  # per layer (B, H_kv, P_max, D); (B, P_max)
        mask = np.concatenate([prefix_mask, prompt_mask], axis=1)  # (B, P_max + T)
        pos = pos + lengths[:, None]  # (B, T)
    feeds.update({names.ATTENTION_MASK: mask, names.POSITION_IDS: pos, **past})

    rng = np.random.default_rng(config.seed)
    eos = np.array(manifest.eos_token_ids, np.int64)
    finished = np.zeros(B, bool)  # (B,)
    n_layers = manifest.model.num_layers
    for _ in range(config.max_new_tokens):
        out = backend.run(feeds)
        logits = out[names.LOGITS][:, -1]  # (B, V)
        tokens = sample_next(logits, rng, config.temperature, config.top_k, config.top_p)  # (B,)
        tokens = np.where(finished, manifest.pad_token_id, tokens)
        yield Step(tokens, logits, finished.copy())
        if not config.ignore_eos:
            finished |= np.isin(tokens, eos)
            if finished.all():
                return
        feeds[names.INPUT_IDS] = tokens[:, None]  # (B, 1)
        feeds[names.POSITION_IDS] = feeds[names.POSITION_IDS][:, -1:] + 1  # (B, 1)
        feeds[names.ATTENTION_MASK] = np.pad(feeds[names.ATTENTION_MASK], ((0, 0), (0, 1)), constant_values=1)
        for i in range(n_layers):  # present (B, H_kv, S + 1, D) becomes the next past
            feeds[names.PAST_KEY.format(i)] = out[names.PRESENT_KEY.format(i)]
            feeds[names.PAST_VALUE.format(i)] = out[names.PRESENT_VALUE.format(i)]


def seed_with_prefix(manifest: Manifest, prefixes: list[Prefix | None]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The initial cache of a switchable graph: each row's prefix, left-padded to the longest (rows may differ).

    Returns past feeds, each (B, H_kv, P_max, D) float32, and the prefix mask (B, P_max) int64.
    """
    B, m = len(prefixes), manifest.model
    p_max = max((p.num_virtual_tokens for p in prefixes if p), default=0)
    key = np.zeros((m.num_layers, B, m.num_key_value_heads, p_max, m.head_dim), np.float32)  # (L, B, H_kv, P_max, D)
    value = np.zeros_like(key)
    mask = np.zeros((B, p_max), np.int64)  # (B, P_max)
    for r, p in enumerate(prefixes):
        if p is not None:
            start = p_max - p.num_virtual_tokens
            key[:, r, :, start:], value[:, r, :, start:], mask[r, start:] = p.key, p.value, 1
    feeds = {}
    for i in range(m.num_layers):
        feeds[names.PAST_KEY.format(i)], feeds[names.PAST_VALUE.format(i)] = key[i], value[i]
    return feeds, mask


def _empty_cache(manifest: Manifest, B: int) -> dict[str, np.ndarray]:
    m = manifest.model
    empty = np.zeros((B, m.num_key_value_heads, 0, m.head_dim), np.float32)  # (B, H_kv, 0, D)
    return {n.format(i): empty for i in range(m.num_layers) for n in (names.PAST_KEY, names.PAST_VALUE)}


def _check_fits(manifest: Manifest, prompts: list[list[int]], lengths: np.ndarray, max_new: int) -> None:
    limit = manifest.max_context
    for prompt, p in zip(prompts, lengths):
        if not prompt:
            raise PrefixDeployError("the prompt is empty (0 tokens); give some text")
        need = int(p) + len(prompt) + max_new
        if need > limit:
            raise ContextLengthError(
                f"prefix {int(p)} + prompt {len(prompt)} + max new tokens {max_new} = {need} tokens exceeds the "
                f"model's context of {limit}; shorten the prompt or lower --max-new-tokens"
            )
