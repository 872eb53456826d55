"""Choosing the next token from logits: greedy, or temperature → top-k → top-p sampling. Must not import torch.

The order of the filters is Hugging Face's (temperature, then top-k, then top-p).
"""

from __future__ import annotations

import numpy as np


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
