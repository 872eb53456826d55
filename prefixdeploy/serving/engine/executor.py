"""The executor runs the scheduler's work on the model: slot moves, then one forward through the KV slots, then the
token choice (`runtime.sampling.choose_tokens`, prompt lookup's verify included). Engine thread only.

A prompt's last chunk chooses the first token of each of its choices (n > 1: the row's own, then its forks', each
with its own processors and RNG, from the same logits); the forks' slots get the prompt's KV by the moves of the next
work. A request that wants its prompt's logprobs is fed through `extend` (every position's logits). A mixed step
(`MixedWork`) runs a prompt chunk and the decode rows in one forward of the mixed-step graph (`KVSlots.mixed`) and
gives each its outcome."""

from __future__ import annotations

import numpy as np

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.kv import KVSlots
from prefixdeploy.runtime.lookup import verify_draft
from prefixdeploy.runtime.sampling import choose_token, choose_tokens
from prefixdeploy.serving.engine.work import DecodeWork, MixedWork, Outcome, PrefillWork, VerifyWork, Work


class NonFiniteLogitsError(PrefixDeployError):
    """A request's first forward gave NaN or infinite logits (a prefix's values out of range, or fp16 overflow)."""


class Executor:
    def __init__(self, slots: KVSlots):
        self.slots = slots

    @property
    def mixes(self) -> bool:
        """Whether it runs `MixedWork` (the backend holds a mixed-step graph)."""
        return self.slots.mixes

    def run(self, work: Work) -> Outcome | tuple[Outcome, Outcome]:
        """Apply the work's slot moves, then run it; an internal error becomes the outcome (the engine serves on).
        MixedWork gives two outcomes: its prefill's, then its decode's."""
        for source, target in work.moves:
            self.slots.move(source, target)
        try:
            if isinstance(work, PrefillWork):
                return self._prefill(work)
            if isinstance(work, DecodeWork):
                return self._decode(work)
            if isinstance(work, MixedWork):
                return self._mixed(work)
            return self._verify(work)
        except Exception as e:
            return (Outcome(error=e), Outcome(error=e)) if isinstance(work, MixedWork) else Outcome(error=e)

    def _prefill(self, work: PrefillWork) -> Outcome:
        if work.seed:
            self.slots.seed(work.slot, work.prefix, work.cached)
        scored = None  # (t, V) the logits that score the prompt's next tokens, when asked for
        if work.every_logit:
            every = self.slots.extend(work.slot, np.array(work.ids, np.int64))  # (T, V)
            logits, scored = every[-1], every if work.choice is None else every[:-1]
        else:
            logits = self.slots.prefill(work.slot, work.ids)  # (V,)
        return _first_tokens(work, logits, scored)

    def _mixed(self, work: MixedWork) -> tuple[Outcome, Outcome]:
        prefill, decode = work.prefill, work.decode
        if prefill.seed:
            self.slots.seed(prefill.slot, prefill.prefix, prefill.cached)
        last = prefill.choice is not None
        decoded, logits = self.slots.mixed(decode.tokens, prefill.slot, prefill.ids, last)  # (n, V), (V,) | None
        tokens = choose_tokens(decoded, decode.choices, decode.histories).tolist()
        return _first_tokens(prefill, logits, None), Outcome(tokens, decoded)

    def _decode(self, work: DecodeWork) -> Outcome:
        logits = self.slots.decode(work.tokens)  # (n, V)
        return Outcome(choose_tokens(logits, work.choices, work.histories).tolist(), logits)

    def _verify(self, work: VerifyWork) -> Outcome:
        def choose(z: np.ndarray, accepted: list[int]) -> int:  # (V,) after the pending token and `accepted`
            return choose_token(z, work.choice, work.history + accepted)

        tokens, logits = verify_draft(self.slots.row(work.slot), work.token, work.draft, choose)
        return Outcome(tokens, logits)


def _first_tokens(work: PrefillWork, logits: np.ndarray | None, scored: np.ndarray | None) -> Outcome:
    """A prefill chunk's outcome: nothing before the prompt's last chunk; then the first token of each choice (n > 1:
    the row's, then its forks', from the same logits (V,)), after checking the row's first logits are finite."""
    if work.choice is None:
        return Outcome(prompt_logits=scored)
    if not np.isfinite(logits).all():  # the row's first forward: fail it alone, before a token or logprob is made
        return Outcome(error=_non_finite(work))
    choices = [work.choice, *work.forks]
    rows = np.repeat(logits[None], len(choices), axis=0)  # (n, V): every choice from the prompt's last logits
    return Outcome(choose_tokens(rows, choices, [[]] * len(choices)).tolist(), rows, scored)


def _non_finite(work: PrefillWork) -> NonFiniteLogitsError:
    after = f"after prefix {work.prefix.name!r}" if work.prefix is not None else "for this prompt"
    cause = "the prefix's values are likely out of range" if work.prefix is not None else "the model overflowed"
    return NonFiniteLogitsError(f"the model's logits {after} are not finite (NaN or infinity): {cause}")
