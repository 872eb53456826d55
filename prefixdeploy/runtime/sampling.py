"""The one place a next token is chosen: each row's logits processors, then greedy or sampling. Must not import torch.

Every path goes through `choose_tokens` (or `choose_token` for one row): the runtime's generation loop, the serving
engine's decode and prefill, and prompt lookup's verification in both (a draft token is accepted where it equals the
processed choice), so a processor (a constraint, a penalty, a bias) cannot be bypassed. The order of the sampling
filters is Hugging Face's (temperature, then top-k, then top-p, then min-p).

Shape letters: n rows, V vocab.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
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
    min_p: float = 0.0  # 0: off; else tokens less likely than min_p times the most likely one are dropped

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
            tokens[i] = sample_next(scores[i : i + 1], c.rng, c.temperature, c.top_k, c.top_p, c.min_p)[0]
    return tokens


def choose_token(logits: np.ndarray, choice: TokenChoice, history: Sequence[int]) -> int:
    """One row: logits (V,) -> its token, exactly as `choose_tokens` would choose it in a batch."""
    return int(choose_tokens(logits[None], [choice], [history])[0])


DRAW_BLOCK = 256  # tokens whose probabilities a draw sums as one: it walks the block sums, then a single block


def sample_next(
    logits: np.ndarray,
    rng: np.random.Generator,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
) -> np.ndarray:
    """logits (B, V) float32 -> next token ids (B,) int64. temperature 0 is greedy (argmax). min_p (vLLM's and
    llama.cpp's field) drops the tokens whose probability is below min_p times the row's highest, after top-p."""
    if temperature == 0.0:
        return logits.argmax(axis=-1).astype(np.int64)  # (B,)
    weights = _scratch("weights", logits.shape)  # (B, V) scores, then unnormalized probabilities, in place
    if temperature == 1.0:
        np.copyto(weights, logits)
    else:
        np.divide(logits, temperature, out=weights, dtype=np.float64)  # in float64, as logits.astype(float64) / T
    below_k = None
    if 0 < top_k < weights.shape[-1]:
        below_k = weights < _partitioned(weights, -top_k)[:, -top_k, None]  # (B, V)
    weights -= weights.max(axis=-1, keepdims=True)
    np.exp(weights, out=weights)  # the most likely token's weight is exactly 1 (exp of -inf would take 7x longer)
    if below_k is not None:
        weights[below_k] = 0.0
    likely = weights >= min_p if min_p > 0 else None  # (B, V) at least min_p times as likely as the most likely
    if top_p < 1.0:
        weights /= weights.sum(axis=-1, keepdims=True)  # probabilities
        few = below_k is not None and top_k <= CANDIDATES[0]  # a top-k left so few tokens that all are sorted
        _nucleus(weights, top_p, min_p, few)
    if likely is not None:
        weights *= likely  # a multiply, not a masked store: the mask's pattern is random, its branches mispredict
    u = rng.random((weights.shape[0], 1))  # (B, 1)
    return np.array([_inverse_cdf(w, float(x)) for w, x in zip(weights, u[:, 0])], np.int64)


CANDIDATES = (1024, 8192)  # top-p sorts this many of a row's most likely tokens, then more if their mass falls short


def _nucleus(probs: np.ndarray, top_p: float, min_p: float = 0.0, few: bool = False) -> None:
    """probs (B, V), in place: the smallest most-likely set whose mass reaches top_p kept, the rest zero (the most
    likely token always stays; equally likely tokens are taken lowest id first); not renormalized. With min_p, exact
    only among the tokens at least min_p times as likely as the most likely one (the caller drops the others): the
    rest may be zero too. few: at most CANDIDATES[0] tokens have a probability above 0 (a top-k's). In place, as every
    new array of V float64 costs page faults (a fresh 384 KiB each)."""
    for row in probs:
        _nucleus_row(row, top_p, min_p * row.max() * MIN_P_MARGIN, few)


MIN_P_MARGIN = 1 - 1e-9  # min_p's floor a hair lower, so rounding in probs never drops a token min_p keeps


def _nucleus_row(probs: np.ndarray, top_p: float, within: float = 0.0, few: bool = False) -> None:
    """One row (V,) of `_nucleus`, in place, exact among the tokens of probability ≥ `within`. Sorting the whole
    vocabulary took 4.8 ms a row at 49,152 tokens; this sorts only the tokens at or above a floor, which come first in
    the most-likely-first order, so their running sum is that order's own (equal values may come in any order: their
    sums are the same). Once their mass reaches top_p, or the floor is `within`, every other token is dropped too;
    else a lower floor (`_floors`), down to the whole vocabulary."""
    for floor in _floors(probs, within, few):
        ranked = -np.sort(-probs[probs >= floor])  # most likely first
        running = np.cumsum(ranked)
        if running[-1] >= top_p or floor <= within:  # then the mass before any other token has, or it is not asked
            kept = int(np.count_nonzero(running - ranked < top_p))  # the mass before them has not reached top_p
            _keep_most_likely(probs, ranked[kept - 1], kept)
            return
    raise AssertionError("the last floor takes every token")


def _floors(probs: np.ndarray, within: float, few: bool) -> Iterator[float]:
    """Probabilities to cut the candidates at, highest first: the CANDIDATES[i]-th highest (one partition of the row
    each, made only when the one before fell short; none when `few`), never below `within` or the lowest positive
    number (a top-k's zeros are never candidates), then `within` itself (with 0.0: every token)."""
    tiny = float(np.finfo(probs.dtype).tiny)
    for count in CANDIDATES[:0] if few else CANDIDATES:  # a partition of many equal zeros would take 10x longer
        if count < len(probs):
            yield max(float(_partitioned(probs, -count)[-count]), tiny, within)
    yield max(tiny, within)
    yield within


def _keep_most_likely(probs: np.ndarray, last: float, count: int) -> None:
    """probs (V,), in place: only its `count` most likely tokens left, ties broken by id (those more likely than
    `last`, the count-th highest value, then the lowest ids of those equal to it), the rest zero."""
    ties = np.flatnonzero(probs == last)
    above = int(np.count_nonzero(probs > last))
    probs[probs < last] = 0.0  # most tokens: the mask's branches predict well
    probs[ties[count - above :]] = 0.0


_buffers = threading.local()  # each thread's scratch arrays: sample_next is never re-entered on a thread


def _scratch(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """This thread's float64 array of `shape` for `name`, reused from call to call: glibc gives arrays of V float64
    (384 KiB at 49,152 tokens) back to the kernel when freed, and every fresh one then cost ~100 page faults, up to
    a third of a top-p draw."""
    array = getattr(_buffers, name, None)
    if array is None or array.shape != shape:
        array = np.empty(shape, np.float64)
        setattr(_buffers, name, array)
    return array


def _partitioned(values: np.ndarray, kth: int) -> np.ndarray:
    """`np.partition(values, kth, axis=-1)` (float64), in this thread's scratch array: valid until the next call."""
    out = _scratch(f"partition{values.ndim}", values.shape)
    np.copyto(out, values)
    out.partition(kth, axis=-1)
    return out


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
