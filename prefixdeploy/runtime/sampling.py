"""The one place a next token is chosen: each row's logits processors, then greedy or sampling. Must not import torch.

Every path goes through `choose_tokens` (or `choose_token` for one row): the runtime's generation loop, the serving
engine's decode and prefill, and prompt lookup's verification in both (a draft token is accepted where it equals the
processed choice), so a processor (a constraint, a penalty, a bias) cannot be bypassed. The order of the sampling
filters is Hugging Face's (temperature, then top-k, then top-p).

Shape letters: n rows, V vocab.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class LogitsProcessor(Protocol):
    """Rewrites one row's scores before the choice, given the tokens that row has generated so far (vLLM's and Hugging
    Face's per-request form). Called again for every candidate position of a prompt-lookup verify, with the draft
    tokens before it appended to `history`, so it must derive what it needs from `history` alone."""

    def __call__(self, history: Sequence[int], logits: np.ndarray) -> np.ndarray:  # (V,) float32 -> (V,)
        ...


@dataclass(frozen=True)
class TokenChoice:
    """How one row chooses: its processors, then argmax (temperature 0) or a draw from its RNG."""

    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    rng: np.random.Generator | None = None  # needed when temperature > 0 (rows may share one: draws go in row order)
    processors: tuple[LogitsProcessor, ...] = ()

    def process(self, history: Sequence[int], logits: np.ndarray) -> np.ndarray:
        """logits (V,) -> the processed scores (V,); the input itself when there are no processors."""
        for processor in self.processors:
            logits = processor(history, logits)
        return logits


GREEDY = TokenChoice()  # no processors, argmax


def choose_tokens(logits: np.ndarray, choices: Sequence[TokenChoice], histories: Sequence[Sequence[int]]) -> np.ndarray:
    """logits (n, V) float32 -> tokens (n,) int64: row i processed by choices[i] given histories[i], then greedy or
    drawn. Sampled rows draw one by one, in row order, on their (1, V) slice, so a seed reproduces the same tokens
    whether the row runs alone or in a batch (and rows sharing one RNG draw as a batch of them would)."""
    scores = logits
    if any(c.processors for c in choices):
        scores = np.stack([c.process(h, z) for c, h, z in zip(choices, histories, logits)])  # (n, V)
    tokens = scores.argmax(axis=-1).astype(np.int64)  # (n,)
    for i, c in enumerate(choices):
        if c.temperature > 0:
            tokens[i] = sample_next(scores[i : i + 1], c.rng, c.temperature, c.top_k, c.top_p)[0]
    return tokens


def choose_token(logits: np.ndarray, choice: TokenChoice, history: Sequence[int]) -> int:
    """One row: logits (V,) -> its token, exactly as `choose_tokens` would choose it in a batch."""
    return int(choose_tokens(logits[None], [choice], [history])[0])


def sample_next(
    logits: np.ndarray, rng: np.random.Generator, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0
) -> np.ndarray:
    """logits (B, V) float32 -> next token ids (B,) int64. temperature 0 is greedy (argmax)."""
    if temperature == 0.0:
        return logits.argmax(axis=-1).astype(np.int64)  # (B,)
    scores = logits.astype(np.float64) / temperature  # (B, V)
    if 0 < top_k < scores.shape[-1]:
        kth = np.partition(scores, -top_k, axis=-1)[:, -top_k, None]  # (B, 1)
        scores = np.where(scores < kth, -np.inf, scores)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)  # (B, V)
    if top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")  # (B, V) most likely first
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        # keep the smallest set whose mass reaches top_p (the first token always stays)
        drop_sorted = np.cumsum(sorted_probs, axis=-1) - sorted_probs >= top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        probs = np.where(drop, 0.0, probs)
        probs /= probs.sum(axis=-1, keepdims=True)
    u = rng.random((probs.shape[0], 1))  # (B, 1)
    picked = (np.cumsum(probs, axis=-1) < u).sum(axis=-1)  # (B,) inverse-CDF draw
    return np.minimum(picked, probs.shape[-1] - 1).astype(np.int64)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """logits (..., V) -> log-probabilities (..., V) float64, computed stably (max subtracted first)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
