"""What the scheduler hands the executor and gets back, as plain data: a step's pieces of work (each with the slot
copies owed before its forward), their outcomes, and a step's statistics. No model, no clock, no numpy work."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.runtime.sampling import TokenChoice

Moves = tuple[tuple[int, int], ...]  # (source slot, target slot) copies, applied in order before a forward


@dataclass(frozen=True)
class PrefillWork:
    moves: Moves
    slot: int
    ids: list[int]  # the chunk of prompt tokens to feed after the slot's filled positions
    seed: bool  # the row is new: start its slot with `prefix` first
    prefix: Prefix | None
    choice: TokenChoice | None  # set on the prompt's last chunk: choose the row's first token
    forks: tuple[TokenChoice, ...] = ()  # on the last chunk of n > 1 choices: the others', each from the same logits
    every_logit: bool = False  # return the logits after every fed token (the request wants its prompt's logprobs)
    cached: int = 0  # with `seed`: the slot already holds `prefix` and this many prompt tokens (the prompt cache)


@dataclass(frozen=True)
class DecodeWork:
    moves: Moves
    tokens: np.ndarray  # (n,) int64, the pending token of each row in slots [0, n)
    choices: list[TokenChoice]
    histories: list[list[int]]  # each row's output so far (its processors' history)


@dataclass(frozen=True)
class VerifyWork:
    moves: Moves
    slot: int
    token: int  # the row's pending token, fed before the draft
    draft: np.ndarray  # (k,) int64
    choice: TokenChoice
    history: list[int]


@dataclass(frozen=True)
class MixedWork:
    """A prefill chunk and the decode of rows [0, n) in one forward (n ≤ the chunk's slot); the executor returns an
    Outcome for each, the prefill's first."""

    prefill: PrefillWork
    decode: DecodeWork

    @property
    def moves(self) -> Moves:
        return self.prefill.moves + self.decode.moves


Work = PrefillWork | DecodeWork | VerifyWork | MixedWork


@dataclass(frozen=True)
class Outcome:
    """What the executor made of one piece of work: the chosen tokens, in order, and the logits each came from."""

    tokens: list[int] = field(default_factory=list)  # [] for a prefill chunk that is not the prompt's last
    logits: np.ndarray | None = None  # (len(tokens), V) float32
    # (t, V) with `every_logit`: the logits after each fed token that another prompt token follows
    prompt_logits: np.ndarray | None = None
    error: BaseException | None = None  # an internal error: the work's rows fail, the engine keeps serving


@dataclass(frozen=True)
class StepStats:
    rows: int  # rows decoded this step
    prefill_tokens: int  # prompt tokens prefilled this step
    stalled: int = 0  # rows that were decoding while this step prefilled (they waited on it)
    drafted: int = 0  # prompt-lookup draft tokens verified this step
    accepted: int = 0  # of those, kept
    mixed: bool = False  # the prefill and the decode ran in one forward (MixedWork)
    cached: int = 0  # prompt tokens of the requests admitted this step that the prompt cache held (not prefilled)
