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


DRAW_BLOCK = 256  # tokens whose probabilities a draw sums as one: it walks the block sums, then a single block


def sample_next(
    logits: np.ndarray, rng: np.random.Generator, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0
) -> np.ndarray:
    """logits (B, V) float32 -> next token ids (B,) int64. temperature 0 is greedy (argmax)."""
    if temperature == 0.0:
        return logits.argmax(axis=-1).astype(np.int64)  # (B,)
    weights = logits.astype(np.float64)  # (B, V) scores, then unnormalized probabilities, in place
    if temperature != 1.0:
        weights /= temperature
    if 0 < top_k < weights.shape[-1]:
        kth = np.partition(weights, -top_k, axis=-1)[:, -top_k, None]  # (B, 1)
        weights[weights < kth] = -np.inf
    weights -= weights.max(axis=-1, keepdims=True)
    np.exp(weights, out=weights)
    if top_p < 1.0:
        weights = _nucleus(weights / weights.sum(axis=-1, keepdims=True), top_p)
    u = rng.random((weights.shape[0], 1))  # (B, 1)
    return np.array([_inverse_cdf(w, float(x)) for w, x in zip(weights, u[:, 0])], np.int64)


FEW_TOKENS = 4096  # a row with at most this many tokens of nonzero probability sorts them without binning
NUCLEUS_BINS = 64  # a row's tokens binned by how far below the most likely one they are, half a nat a bin


def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    """probs (B, V) -> the smallest most-likely set whose mass reaches top_p kept, the rest zero (the most likely
    token always stays); not renormalized."""
    return np.stack([_nucleus_row(row, top_p) for row in probs])


def _nucleus_row(probs: np.ndarray, top_p: float) -> np.ndarray:
    """One row (V,) of `_nucleus`. Sorting the whole vocabulary took 4.8 ms a row at 49,152 tokens; this sorts only
    the tokens above a floor, all of them ahead of the rest in the (stable, most likely first) order, so their running
    sum is that order's own. Once their mass reaches top_p, every other token is dropped too; else the next floor
    (`_floors`), down to the whole vocabulary."""
    for floor in _floors(probs, top_p):
        candidates = np.flatnonzero(probs >= floor) if floor else np.arange(len(probs))  # ascending ids
        order = candidates[np.argsort(-probs[candidates], kind="stable")]  # most likely first, ties by id
        ranked = probs[order]
        running = np.cumsum(ranked)
        keep = running - ranked < top_p  # the mass before a token has not reached top_p yet
        if running[-1] >= top_p or not floor:  # then the mass before any other token has
            out = np.zeros_like(probs)
            out[order[keep]] = ranked[keep]
            return out
    raise AssertionError("the last floor takes every token")


def _floors(probs: np.ndarray, top_p: float) -> list[float]:
    """Probabilities to cut the candidates at, highest first, ending with 0.0 (every token): the tokens binned by how
    far below the most likely one they are (half a nat a bin), the lower edges of the bin where the mass, most likely
    first, reaches top_p and of the next bin with tokens; then every token of nonzero probability (at once, where
    those are few)."""
    tiny = float(np.finfo(probs.dtype).tiny)
    if np.count_nonzero(probs) <= FEW_TOKENS:  # after a top-k: sort them all
        return [tiny, 0.0]
    top = probs.max()
    with np.errstate(divide="ignore"):
        depth = (np.log(top) - np.log(probs)) * 2  # (V,) half-nats below the most likely token; inf for zeros
    bins = np.minimum(depth, NUCLEUS_BINS - 1).astype(np.int64)  # the last bin: that deep or zero
    counts = np.bincount(bins, minlength=NUCLEUS_BINS)
    reached = int(np.searchsorted(np.cumsum(np.bincount(bins, probs, NUCLEUS_BINS)), top_p, side="left"))
    after = [k for k in np.flatnonzero(counts[reached + 1 : NUCLEUS_BINS - 1]) + reached + 1][:1]
    edges = [reached, *after] if reached < NUCLEUS_BINS - 1 else []
    return [float(top * np.exp(-(k + 1) / 2)) for k in edges] + [tiny, 0.0]


def _inverse_cdf(weights: np.ndarray, u: float) -> int:
    """The first index where the running sum of `weights` (V,), non-negative, reaches u times their total: a draw
    from the distribution they are proportional to, for u uniform in [0, 1). Walks the sums of blocks of DRAW_BLOCK,
    then one block, in place of a running sum over V (a third of the time at V = 49,152)."""
    starts = np.arange(0, len(weights), DRAW_BLOCK)  # (K,)
    ends = np.cumsum(np.add.reduceat(weights, starts))  # (K,) the running sum at each block's end
    target = u * ends[-1]
    block = min(int(np.searchsorted(ends, target, side="left")), len(starts) - 1)  # blocks ending below: passed
    inner = np.cumsum(weights[starts[block] : starts[block] + DRAW_BLOCK])  # (≤ DRAW_BLOCK,)
    if block:
        inner += ends[block - 1]
    index = starts[block] + int(np.searchsorted(inner, target, side="left"))
    return min(index, len(weights) - 1)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """logits (..., V) -> log-probabilities (..., V) float64, computed stably (max subtracted first)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
