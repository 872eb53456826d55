"""The scheduler plans each engine step and records its results; it never runs the model (`executor.py` does).

Engine thread only. Rows live in slots in order: rows[:ready] have their whole prompt in the cache and decode
together; rows[ready] (at most one) is still being prefilled, chunk by chunk: one short chunk per step while others
decode (a prefill stalls them), a whole prompt while none does. When a row leaves, the last ready row moves into its
slot (and the prefilling row after it), so the decoding rows stay contiguous at the front; the moves travel with the
next piece of work, which the executor applies before its forward.

A step (`step`) is two pieces of work, each planned, executed and recorded in turn (vLLM's `schedule()` /
`update_from_output()`, in two phases so that a row whose prompt completes decodes in the same step):
1. `PrefillWork`: one chunk of the row mid-prefill, admitting a queued request into a free slot first; with
   `max_prefill_prompts` > 1, the next queued prompts after it while the step's token budget lasts, each a forward of
   its own (vLLM's budget shared by prompts; the last may be a partial chunk);
2. `DecodeWork` (one token for every ready row) or `VerifyWork` (prompt lookup: a greedy row alone drafts up to K
   tokens from its prompt and output, `runtime.lookup`, and the executor verifies them in one forward over its slot;
   rows in a batch decode one token per step, since the fused attention takes several new tokens over a past only
   at batch 1). With `lookup_history` N > 0 the last N greedy answers of each prefix (by name; requests without a
   prefix share one history) are draft sources too.
With `mixed_steps` (the executor holds a mixed-step graph), a step that prefills a chunk while rows decode runs both
in one forward (`MixedWork`): every weight is read once per step, not twice. Its decode covers the rows ready before
the chunk, so a row whose prompt completes decodes from the next step on.
With `prompt_cache`, a row that finishes leaves its sequence in a free slot (`prompt_cache.PromptCache`), and a
request admitted later that starts the same way as a kept or a decoding row, under the same prefix, copies its slot
and prefills only the rest.
The work is plain data (`work.py`) and the results are tokens and logits, so the policy is tested without a model or
a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.lookup import Drafter, EarlierOutputs
from prefixdeploy.serving.engine.prompt_cache import PromptCache
from prefixdeploy.serving.engine.requests import (
    Request,
    TokenLogprob,
    abort_event,
    prompt_token_logprobs,
    token_event,
)
from prefixdeploy.serving.engine.work import (
    DecodeWork,
    MixedWork,
    Moves,
    Outcome,
    PrefillWork,
    StepStats,
    VerifyWork,
    Work,
)

log = logging.getLogger(__name__)

IDLE_PREFILL_TOKENS = 512  # the chunk bound while no row decodes (one call's attention memory grows with it squared)


@dataclass
class Row:
    request: Request
    fed: int = 0  # prompt tokens prefilled so far
    token: int = 0  # the last chosen token, fed at the next decode
    output: list[int] = field(default_factory=list)  # the tokens chosen so far
    cached: int = 0  # prompt tokens the prompt cache held when it was admitted (fed from there on)
    drafter: Drafter | None = None  # prompt lookup's draft sizes, made at the row's first draft
    unforked: list[Request] = field(default_factory=list)  # the request's other choices, forked when the prompt is in
    prompt_logprobs: list[TokenLogprob] | None = None  # with params.prompt_logprobs: the prompt tokens scored so far

    @property
    def held(self) -> list[int]:
        """The tokens its slot holds after the prefix, once it is ready: its prompt and its output but the pending
        token (never fed yet)."""
        return self.request.prompt_ids + self.output[:-1]

    @property
    def aborted(self) -> bool:
        """Dropped at the next step: its consumer gave up (and, before the fork, every other choice's did too)."""
        return self.request.aborted and all(r.aborted for r in self.unforked)


class Scheduler:
    def __init__(
        self,
        num_slots: int,
        max_prefill_tokens: int,
        eos_token_ids: list[int],
        idle_prefill_tokens: int = IDLE_PREFILL_TOKENS,
        prompt_lookup: int = 0,
        lookup_history: int = 0,
        mixed_steps: bool = False,
        max_prefill_prompts: int = 1,
        prompt_cache: bool = False,
    ):
        """prompt_lookup: K > 0 lets a greedy row that is alone draft up to K tokens a step (the executor's graph
        must take several tokens with every position's logits); lookup_history: how many greedy answers per prefix
        it may also draft from; mixed_steps: the executor runs `MixedWork`; max_prefill_prompts: how many prompts a
        step may prefill within its budget; prompt_cache: keep finished rows' sequences in free slots for later
        requests that start the same way."""
        self.num_slots, self.max_prefill_tokens = num_slots, max_prefill_tokens
        self.prompt_lookup = prompt_lookup
        self.earlier = EarlierOutputs(lookup_history if prompt_lookup else 0)
        self.idle_prefill_tokens = max(idle_prefill_tokens, max_prefill_tokens)
        self.eos = set(eos_token_ids)
        self.mixed_steps = mixed_steps
        self.max_prefill_prompts = max_prefill_prompts
        self.rows: list[Row] = []  # rows[i] lives in slot i
        self.ready = 0  # rows[:ready] decode; rows[ready:] (at most one) is mid-prefill
        self._moves: list[tuple[int, int]] = []  # slot copies owed to the executor by rows that left
        self.cache = PromptCache() if prompt_cache else None
        self._cached = 0  # prompt tokens admitted from the cache during the current step

    def step(self, take_waiting: Callable[[int], Request | None], execute: Callable[[Work], Outcome]) -> StepStats:
        """One engine step: drop aborted rows, prefill prompts within the step's budget, then decode or verify (the
        first prompt's chunk and the decode in one forward with `mixed_steps`); `take_waiting(free)` hands over the
        next queued request if it needs at most `free` slots (else None), `execute` runs a piece of work."""
        self._drop_aborted()
        self._cached = 0
        stalled = self.ready
        budget = self.max_prefill_tokens if self.ready > 0 else self.idle_prefill_tokens
        prefill = self.plan_prefill(take_waiting, budget)
        if prefill is not None and self.mixed_steps and self.ready > 0 and not prefill.every_logit:
            stats = self._mixed_step(prefill, execute)
            more = self._more_prompts(prefill, budget, take_waiting, execute)
            return replace(stats, prefill_tokens=stats.prefill_tokens + more, cached=self._cached)
        prefilled = 0
        if prefill is not None:
            self.record(prefill, execute(prefill))
            prefilled = len(prefill.ids) + self._more_prompts(prefill, budget, take_waiting, execute)
        work = self.plan_decode()
        outcome = execute(work) if work is not None else None
        if work is not None:
            self.record(work, outcome)
        drafted = len(work.draft) if isinstance(work, VerifyWork) and outcome.error is None else 0
        return StepStats(
            rows=len(work.tokens) if isinstance(work, DecodeWork) else int(work is not None),
            prefill_tokens=prefilled,
            stalled=stalled if prefilled else 0,
            drafted=drafted,
            accepted=len(outcome.tokens) - 1 if drafted else 0,
            cached=self._cached,
        )

    def _more_prompts(
        self,
        first: PrefillWork,
        budget: int,
        take_waiting: Callable[[int], Request | None],
        execute: Callable[[Work], Outcome],
    ) -> int:
        """After `first` (executed and recorded) put its prompt in, the next queued prompts, each a forward of its
        own, while the step's `budget` has at least a quarter left and `max_prefill_prompts` allows (the last may be
        a partial chunk, continued next step); the tokens they fed."""
        spent, prompts, last = len(first.ids), 1, first
        while last.choice is not None and prompts < self.max_prefill_prompts and budget - spent >= budget // 4:
            last = self.plan_prefill(take_waiting, budget - spent)
            if last is None:
                break
            self.record(last, execute(last))
            spent, prompts = spent + len(last.ids), prompts + 1
        return spent - len(first.ids)

    def _mixed_step(self, prefill: PrefillWork, execute: Callable[[Work], tuple[Outcome, Outcome]]) -> StepStats:
        """The chunk and the ready rows' decode in one forward. The prefill is recorded first: its row sits after
        the decoding rows, so whatever it frees moves none of them, while a decoding row that finishes may move the
        prefilled row (now ready) into its slot."""
        decode = self.plan_decode()  # rows [0, ready): a prefilling row exists, so never a lone row's verify
        assert isinstance(decode, DecodeWork)
        prefilled, decoded = execute(MixedWork(prefill, decode))
        self.record(prefill, prefilled)
        self.record(decode, decoded)
        rows = len(decode.tokens)
        return StepStats(rows=rows, prefill_tokens=len(prefill.ids), stalled=rows, mixed=True)

    def abort_all(self) -> None:
        rows, self.rows, self.ready, self._moves = self.rows, [], 0, []
        self._forget_cache()
        for row in rows:
            for request in (row.request, *row.unforked):
                request.deliver(abort_event())

    def fail_all(self, error: BaseException) -> None:
        """After an internal error: every running request gets `error`; the slots start empty."""
        rows, self.rows, self.ready, self._moves = self.rows, [], 0, []
        self._forget_cache()
        for row in rows:
            for request in (row.request, *row.unforked):
                if not request.finished:
                    request.deliver(error)

    # -- planning ------------------------------------------------------------------------------------------------------

    def plan_prefill(self, take_waiting: Callable[[int], Request | None], budget: int) -> PrefillWork | None:
        """One chunk of at most `budget` tokens of the row mid-prefill, or of the next queued request if nobody is
        mid-prefill and it has the slots it needs (one per choice: the slots after the prefilling row stay free for
        its forks, since no other request is admitted before its prompt is in). Once a row has its first token it
        waits on every prefill, so while any row decodes a step's budget is `max_prefill_tokens`; while none does,
        `idle_prefill_tokens` (a short prompt goes in whole). Chunks are even: 33 tokens at a budget of 16 go as
        11 + 11 + 11, not 16 + 16 + 1."""
        if len(self.rows) == self.ready:
            free = self.num_slots - len(self.rows)
            request = take_waiting(free) if free > 0 else None
            if request is None:
                return None
            assert request.slots <= free, "take_waiting handed over a request that does not fit"
            self.rows.append(self._admit(request))
        slot = len(self.rows) - 1
        row = self.rows[slot]
        remaining = len(row.request.prompt_ids) - row.fed
        size = -(-remaining // -(-remaining // budget))  # ceil(remaining / number of chunks)
        last = size == remaining
        return PrefillWork(
            moves=self._take_moves(),
            slot=slot,
            ids=row.request.prompt_ids[row.fed : row.fed + size],
            seed=row.fed == row.cached,  # the first chunk (a chunk feeds at least one token)
            prefix=row.request.prefix,
            choice=row.request.choice if last else None,
            forks=tuple(r.choice for r in row.unforked) if last else (),
            every_logit=row.prompt_logprobs is not None,
            cached=row.cached,
        )

    def _admit(self, request: Request) -> Row:
        """The row of a queued request, in the first free slot: from the prompt cache's best slot for it, a kept one
        or a decoding row's, of the same prefix and cache salt, if any (copied there first unless it is that slot,
        whose own entry is first set aside; a request scoring its prompt, or with `cache_prompt` false, feeds it all;
        the request's `cached_tokens` say how many it was spared). Admission waits for the prefilling row, so every
        row is ready (`Row.held`)."""
        row, slot = _new_row(request), len(self.rows)
        if self.cache is None:
            return row
        hit = None
        salt = request.params.cache_salt
        if row.prompt_logprobs is None and request.params.cache_prompt:
            running = [(i, r.request.prefix, r.request.params.cache_salt, r.held) for i, r in enumerate(self.rows)]
            hit = self.cache.best(request.prefix, salt, request.prompt_ids, range(slot, self.num_slots), running)
        source = hit[0] if hit is not None else None
        if source != slot:
            self._set_aside(slot, source)
        self.cache.drop(slot)  # written from now on
        if hit is not None:
            row.cached = hit[1]
            if source != slot:
                self._copy(source, slot)
            row.fed = request.cached_tokens = row.cached
            self._cached += row.cached
        return row

    def plan_decode(self) -> DecodeWork | VerifyWork | None:
        """A verify for a lone greedy row whose sequence offers a draft, else one token for every ready row."""
        if self.ready == 0:
            return None
        draft = self._lone_row_draft()
        if draft is not None:
            row = self.rows[0]
            return VerifyWork(self._take_moves(), 0, row.token, draft, row.request.choice, row.output)
        ready = self.rows[: self.ready]
        return DecodeWork(
            moves=self._take_moves(),
            tokens=np.array([row.token for row in ready], np.int64),  # (n,)
            choices=[row.request.choice for row in ready],
            histories=[row.output for row in ready],
        )

    def _lone_row_draft(self) -> np.ndarray | None:
        """A prompt-lookup draft (k,) for the only row, if it is greedy, alone and its sequence offers one."""
        if not self.prompt_lookup or self.ready != 1 or len(self.rows) != 1:
            return None
        row = self.rows[0]
        params = row.request.params
        if params.temperature > 0:
            return None
        if row.drafter is None:
            row.drafter = Drafter(self.prompt_lookup)
        room = params.max_tokens - len(row.output) - 1  # the model's own token must still fit after it
        seq = np.array(row.request.prompt_ids + row.output, np.int64)  # (N,)
        eos = (set() if params.ignore_eos else self.eos) | set(params.stop_token_ids)
        draft = row.drafter.propose(seq, room, eos, self.earlier.get(_task(row.request)))  # (≤ room,)
        return draft if len(draft) else None

    def _take_moves(self) -> Moves:
        moves, self._moves = tuple(self._moves), []
        return moves

    # -- recording -----------------------------------------------------------------------------------------------------

    def record(self, work: Work, outcome: Outcome) -> None:
        """Take the executor's outcome of `work`: deliver tokens, finish rows, free their slots."""
        if isinstance(work, PrefillWork):
            self._record_prefill(work, outcome)
        elif outcome.error is not None:
            self._fail(range(self.ready) if isinstance(work, DecodeWork) else [work.slot], outcome.error, work)
        elif isinstance(work, VerifyWork):
            row = self.rows[work.slot]
            row.drafter.record(len(work.draft), len(outcome.tokens) - 1)
            self._advance_one(work.slot, outcome)
        else:
            self._advance(list(range(len(work.tokens))), outcome.tokens, outcome.logits)

    def _record_prefill(self, work: PrefillWork, outcome: Outcome) -> None:
        if outcome.error is not None:
            self._fail([work.slot], outcome.error, work)
            return
        row = self.rows[work.slot]
        if outcome.prompt_logits is not None:
            following = row.request.prompt_ids[row.fed + 1 : row.fed + 1 + len(outcome.prompt_logits)]  # (t,)
            row.prompt_logprobs += prompt_token_logprobs(
                outcome.prompt_logits, following, row.request.params.prompt_logprobs
            )
        row.fed += len(work.ids)
        if work.choice is not None:  # the prompt is in: its first token, and its other choices' (forked)
            self.ready += 1
            self._advance([work.slot, *self._fork(work.slot)], outcome.tokens, outcome.logits)

    def _fork(self, slot: int) -> list[int]:
        """Row `slot`'s other choices (n > 1) join it as ready rows in the slots after it, each slot a copy of its
        prompt's KV (a move that leaves the source as it is, applied before the next forward); their slots."""
        row = self.rows[slot]
        forked = []
        for request in row.unforked:
            forked.append(len(self.rows))
            self.rows.append(Row(request, fed=row.fed, prompt_logprobs=row.prompt_logprobs))
            self._copy(slot, forked[-1])
        row.unforked = []
        self.ready += len(forked)
        return forked

    def _advance_one(self, slot: int, outcome: Outcome) -> None:
        """A verify's tokens, one after another, until they end or the row finishes (EOS or max_tokens)."""
        row = self.rows[slot]
        for i, token in enumerate(outcome.tokens):
            self._advance([slot], [token], outcome.logits[i : i + 1])
            if slot >= len(self.rows) or self.rows[slot] is not row:  # it finished
                break

    def _advance(self, slots: list[int], tokens: list[int], logits: np.ndarray) -> None:
        """Deliver and record the tokens (len(slots),) chosen from logits (len(slots), V) for the rows in `slots`."""
        done, events = [], []
        for s, z, token in zip(slots, logits, tokens):
            row = self.rows[s]
            row.token = token
            row.output.append(token)
            reason = self._finish_reason(row, token)
            prompt = row.prompt_logprobs if len(row.output) == 1 else None  # the prompt's, with the first token
            events.append((row.request, token_event(row.request, z, token, reason, prompt)))
            if reason is not None:
                done.append(s)
                if row.request.params.temperature == 0 and row.request.index == 0:  # n greedy choices: one answer
                    self.earlier.add(_task(row.request), row.output)
        for s in sorted(done, reverse=True):  # from the back: a moved row never lands on a slot still to free
            self._free(s, keep=True)
        for request, event in events:  # after freeing: whoever sees a last event sees its slot free
            request.deliver(event)

    def _finish_reason(self, row: Row, token: int) -> str | None:
        params = row.request.params
        if (token in self.eos and not params.ignore_eos) or token in params.stop_token_ids:
            return "stop"
        return "length" if len(row.output) >= params.max_tokens else None

    def _fail(self, slots, error: BaseException, work: Work) -> None:
        """An internal error in `work`: fail its rows' requests (logged), keep serving the others."""
        rows = [self.rows[s] for s in slots]
        kind = {PrefillWork: "prefill", DecodeWork: "decode", VerifyWork: "prompt-lookup verify"}[type(work)]
        ids = ", ".join(row.request.id for row in rows)
        if isinstance(error, PrefixDeployError):  # a known failure of this request (non-finite logits): no traceback
            log.warning("%s of request %s failed: %s", kind, ids, error)
        else:
            log.error("%s of request %s failed", kind, ids, exc_info=error)
        for s in sorted(slots, reverse=True):
            self._free(s)
        for row in rows:
            for request in (row.request, *row.unforked):
                request.deliver(error)

    def _drop_aborted(self) -> None:
        for i in reversed(range(len(self.rows))):
            row = self.rows[i]
            if row.aborted:
                self._free(i)
                for request in (row.request, *row.unforked):
                    request.deliver(abort_event())

    def _free(self, slot: int, keep: bool = False) -> None:
        """Release `slot`; the last ready row fills the hole, then the prefilling row (if any) follows it down.
        keep: the row finished; the prompt cache keeps its sequence (see `_keep`)."""
        if keep and self.cache is not None:
            self._keep(slot)
        if slot < self.ready:
            last = self.ready - 1
            self._move(last, slot)
            self.ready -= 1
            slot = last
        if slot < len(self.rows) - 1:  # the prefilling row sits after the hole
            self._move(len(self.rows) - 1, slot)
        self.rows.pop()

    def _move(self, source: int, target: int) -> None:
        if source != target:
            self._copy(source, target)
            self.rows[target] = self.rows[source]

    def _copy(self, source: int, target: int) -> None:
        """Owe the executor a copy of slot `source` into `target`, which then keeps nothing for the prompt cache."""
        self._moves.append((source, target))
        if self.cache is not None:
            self.cache.drop(target)

    def _keep(self, slot: int) -> None:
        """The prompt cache keeps the finished row's tokens (`Row.held`): where they are if no row will move into its
        slot (the last row), else copied into a free slot first (an empty one, or the least recently used), before
        the moves that fill the hole."""
        row = self.rows[slot]
        target = slot
        if slot != len(self.rows) - 1:
            target = self.cache.spare(range(len(self.rows), self.num_slots))
            if target is None:  # every slot holds a row
                return
            self._copy(slot, target)
        self.cache.keep(target, row.request.prefix, row.request.params.cache_salt, row.held)

    def _set_aside(self, slot: int, source: int | None) -> None:
        """Before a row takes free slot `slot`: the prompt cache's entry there copied to another free slot, if one is
        worth it (`PromptCache.aside`; not `source`, which the row copies from next)."""
        target = self.cache.aside(slot, range(slot + 1, self.num_slots), source)
        if target is not None:
            self._moves.append((slot, target))

    def _forget_cache(self) -> None:
        if self.cache is not None:
            self.cache.clear()


def _new_row(request: Request) -> Row:
    """A queued request's row: its other choices wait for its prompt; its first prompt token has no logprob."""
    scored = [TokenLogprob(request.prompt_ids[0], None, None)] if request.params.prompt_logprobs is not None else None
    return Row(request, unforked=list(request.siblings), prompt_logprobs=scored)


def _task(request: Request) -> str | None:
    """Whose earlier answers a request may draft from: its prefix's (by name), or the base model's."""
    return request.prefix.name if request.prefix is not None else None
