"""The next token of every running row, each with its own request's params and RNG, and logprobs where asked."""

from __future__ import annotations

import numpy as np

from prefixdeploy.runtime.sampling import log_softmax, sample_next
from prefixdeploy.serving.requests import Request, TokenEvent


def choose_tokens(requests: list[Request], logits: np.ndarray) -> np.ndarray:
    """logits (n, V) float32 -> tokens (n,) int64. Greedy rows share one argmax; the others draw from their own RNG
    on their (1, V) slice, exactly as `generate_steps` draws for a batch of one (so a seed reproduces `run`)."""
    tokens = logits.argmax(axis=-1).astype(np.int64)  # (n,)
    for i, request in enumerate(requests):
        p = request.params
        if p.temperature > 0:
            tokens[i] = sample_next(logits[i : i + 1], request.rng, p.temperature, p.top_k, p.top_p)[0]
    return tokens


def token_event(request: Request, logits: np.ndarray, token: int, finish_reason: str | None) -> TokenEvent:
    """The event for `token` chosen from logits (V,); logprobs only when the request asked for them."""
    k = request.params.logprobs
    if k is None:
        return TokenEvent(token, None, None, finish_reason)
    logp = log_softmax(logits)  # (V,) float64, the model's raw distribution (before temperature, top-k, top-p)
    best = np.argpartition(-logp, k)[:k] if 0 < k < len(logp) else np.arange(0)  # (k,) the k most likely
    best = best[np.argsort(-logp[best], kind="stable")]  # (k,) most likely first
    top = [(int(t), float(logp[t])) for t in best]
    return TokenEvent(token, float(logp[token]), top, finish_reason)
