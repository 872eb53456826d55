"""Logits processors for the sampling fields of OpenAI's and vLLM's APIs: `logit_bias`, presence, frequency and
repetition penalties, `min_tokens`. Must not import torch.

Each is a `sampling.LogitsProcessor` that derives what it needs from the row's history (the tokens generated so far)
and what it was made with, so prompt lookup's verify, which asks about hypothetical histories, gets exact answers.
`row_processors` makes one row's chain in vLLM's order: bias, then penalties (repetition, then frequency and
presence), then the row's constraint, then `min_tokens`, which bans the end tokens only while another token is left
(a constraint whose grammar is complete allows nothing but EOS).

Semantics (vLLM's, which OpenAI's documentation matches for the first three):
- logit_bias: added to the token's logit (OpenAI's -100..100: -100 is a ban in practice);
- frequency_penalty: subtracts penalty × (times the token occurs in the output so far);
- presence_penalty: subtracts penalty once for every token that occurs in the output so far;
- repetition_penalty (Hugging Face's / CTRL's): the logit of every token of the prompt or the output so far is divided
  by the penalty where it is positive and multiplied where it is negative;
- min_tokens: before that many tokens the end tokens (EOS and stop_token_ids) cannot be chosen.

Shape letters: V vocab, t tokens of history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from prefixdeploy.runtime.sampling import LogitsProcessor


class LogitBias:
    def __init__(self, bias: Mapping[int, float]):
        self.ids = np.array(list(bias), np.int64)  # (k,)
        self.values = np.array(list(bias.values()), np.float32)  # (k,)

    def __call__(self, history: Sequence[int], logits: np.ndarray) -> np.ndarray:  # (V,) -> (V,)
        out = logits.copy()
        np.add.at(out, self.ids, self.values)
        return out


class Penalties:
    """Repetition (prompt and output), then frequency and presence (output only), as vLLM applies them."""

    def __init__(self, prompt: Sequence[int], presence: float = 0.0, frequency: float = 0.0, repetition: float = 1.0):
        self.presence, self.frequency, self.repetition = presence, frequency, repetition
        self.prompt = np.unique(np.asarray(prompt, np.int64))  # (≤ prompt,) distinct prompt tokens

    def __call__(self, history: Sequence[int], logits: np.ndarray) -> np.ndarray:  # (V,) -> (V,)
        out = logits.copy()
        tokens, counts = np.unique(np.asarray(history, np.int64), return_counts=True)  # (k,), (k,) over t tokens
        if self.repetition != 1.0:
            seen = np.union1d(self.prompt, tokens)
            z = out[seen]
            out[seen] = np.where(z > 0, z / self.repetition, z * self.repetition)
        if len(tokens):
            out[tokens] -= self.frequency * counts + self.presence
        return out


class MinTokens:
    """Before `n` tokens, the end tokens are banned (while any other token is still allowed)."""

    def __init__(self, n: int, end_ids: Sequence[int]):
        self.n, self.end_ids = n, np.array(sorted(set(end_ids)), np.int64)

    def __call__(self, history: Sequence[int], logits: np.ndarray) -> np.ndarray:  # (V,) -> (V,)
        if len(history) >= self.n or not len(self.end_ids):
            return logits
        out = logits.copy()
        out[self.end_ids] = -np.inf
        return out if np.isfinite(out).any() else logits  # only an end is allowed (a finished grammar): keep it


def row_processors(
    prompt: Sequence[int],
    *,
    logit_bias: Mapping[int, float] | None = None,
    presence_penalty: float = 0.0,
    frequency_penalty: float = 0.0,
    repetition_penalty: float = 1.0,
    constraint: LogitsProcessor | None = None,
    min_tokens: int = 0,
    end_ids: Sequence[int] = (),
) -> tuple[LogitsProcessor, ...]:
    """One row's processors, in order; only those that change something (a plain row gets none)."""
    chain: list[LogitsProcessor] = []
    if logit_bias:
        chain.append(LogitBias(logit_bias))
    if presence_penalty or frequency_penalty or repetition_penalty != 1.0:
        chain.append(Penalties(prompt, presence_penalty, frequency_penalty, repetition_penalty))
    if constraint is not None:
        chain.append(constraint)
    if min_tokens:
        chain.append(MinTokens(min_tokens, end_ids))
    return tuple(chain)
