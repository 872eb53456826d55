"""One engine step over the KV slots: drop aborted rows, prefill within a token budget, decode every running row.

Engine thread only. Rows live in slots in order: rows[:ready] have their whole prompt in the cache and decode
together; rows[ready] (at most one) is still being prefilled, chunk by chunk: one short chunk per step while others
decode (a prefill stalls them), a whole prompt while none does. When a row leaves, the last ready row
moves into its slot (and the prefilling row after it), so the decoding rows stay contiguous at the front.

Prompt lookup (`prompt_lookup` K > 0): a greedy row that is alone (no other row decodes or prefills) drafts up to K
tokens from its own prompt and output (`runtime.lookup`) and verifies them in one forward over its slot; the longest
agreeing run is kept plus the model's own next token, so its tokens are plain greedy decoding's (at fp32; see
runtime.lookup for int4). Rows in a batch decode one token per step: the fused attention takes several new tokens
over a past only at batch 1. With `lookup_history` N > 0 the last N greedy answers of each prefix (by name; requests
without a prefix share one history) are draft sources too (`lookup.EarlierOutputs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from prefixdeploy.runtime.lookup import DraftPolicy, EarlierOutputs, before_eos, find_draft
from prefixdeploy.serving.requests import Request, abort_event
from prefixdeploy.serving.sampler import choose_tokens, token_event
from prefixdeploy.serving.slots import SlotCache

log = logging.getLogger(__name__)

IDLE_PREFILL_TOKENS = 512  # the chunk bound while no row decodes (one call's attention memory grows with it squared)


@dataclass(frozen=True)
class StepStats:
    rows: int  # rows decoded this step
    prefill_tokens: int  # prompt tokens prefilled this step
    stalled: int = 0  # rows that were decoding while this step prefilled (they waited on it)
    drafted: int = 0  # prompt-lookup draft tokens verified this step
    accepted: int = 0  # of those, kept


@dataclass
class Row:
    request: Request
    length: int  # filled positions of its slot: prefix + tokens fed so far
    fed: int = 0  # prompt tokens prefilled so far
    token: int = 0  # the last chosen token, fed at the next decode
    output: list[int] = field(default_factory=list)  # the tokens chosen so far (prompt lookup drafts from them)
    policy: DraftPolicy | None = None  # prompt lookup's draft sizes, made at the row's first draft


class Scheduler:
    def __init__(
        self,
        cache: SlotCache,
        num_slots: int,
        max_prefill_tokens: int,
        eos_token_ids: list[int],
        idle_prefill_tokens: int = IDLE_PREFILL_TOKENS,
        prompt_lookup: int = 0,
        lookup_history: int = 0,
    ):
        """prompt_lookup: K > 0 lets a greedy row that is alone draft up to K tokens a step (needs `cache.extends`);
        lookup_history: how many greedy answers per prefix it may also draft from."""
        self.cache, self.num_slots, self.max_prefill_tokens = cache, num_slots, max_prefill_tokens
        self.prompt_lookup = prompt_lookup
        self.earlier = EarlierOutputs(lookup_history if prompt_lookup else 0)
        self.idle_prefill_tokens = max(idle_prefill_tokens, max_prefill_tokens)
        self.eos = set(eos_token_ids)
        self.rows: list[Row] = []  # rows[i] lives in slot i
        self.ready = 0  # rows[:ready] decode; rows[ready:] (at most one) is mid-prefill

    def step(self, take_waiting: Callable[[], Request | None]) -> StepStats:
        """One engine step; `take_waiting` hands over the next queued request (or None) when a slot is free."""
        self._drop_aborted()
        stalled = self.ready
        prefilled = self._prefill(take_waiting)
        draft = self._lone_row_draft()
        if draft is not None:
            return StepStats(1, prefilled, stalled if prefilled else 0, *self._verify(draft))
        return StepStats(self._decode(), prefilled, stalled if prefilled else 0)

    def abort_all(self) -> None:
        rows, self.rows, self.ready = self.rows, [], 0
        for row in rows:
            row.request.deliver(abort_event())

    def fail_all(self, error: BaseException) -> None:
        """After an internal error: every running request gets `error`; the slots start empty."""
        rows, self.rows, self.ready = self.rows, [], 0
        for row in rows:
            if not row.request.finished:
                row.request.deliver(error)

    def _drop_aborted(self) -> None:
        for i in reversed(range(len(self.rows))):
            request = self.rows[i].request
            if request.aborted:
                self._free(i)
                request.deliver(abort_event())

    def _prefill(self, take_waiting: Callable[[], Request | None]) -> int:
        """Feed one prompt chunk, admitting a queued request into a free slot if nobody is mid-prefill; returns its
        length. Once a row has its first token it waits on every prefill, so while any row decodes the chunk is at
        most `max_prefill_tokens`; while none does, up to `idle_prefill_tokens` (a short prompt goes in whole)."""
        budget = self.max_prefill_tokens if self.ready > 0 else self.idle_prefill_tokens
        return self._prefill_next(take_waiting, budget)

    def _prefill_next(self, take_waiting: Callable[[], Request | None], budget: int) -> int:
        """One chunk of the row mid-prefill, or of the next queued request if a slot is free; 0 if there is none."""
        if len(self.rows) == self.ready:  # nobody mid-prefill: admit the next request if a slot is free
            request = take_waiting() if len(self.rows) < self.num_slots else None
            if request is None:
                return 0
            slot = len(self.rows)
            self.rows.append(Row(request, length=self.cache.seed(slot, request.prefix)))
        return self._prefill_chunk(len(self.rows) - 1, budget)

    def _prefill_chunk(self, slot: int, budget: int) -> int:
        """Feed the next chunk (at most `budget` tokens, the rest split evenly) of the row in `slot`; once its prompt is
        in, it picks its first token. Even chunks: 33 tokens at a budget of 16 go as 11 + 11 + 11, not 16 + 16 + 1."""
        row = self.rows[slot]
        remaining = len(row.request.prompt_ids) - row.fed
        size = -(-remaining // -(-remaining // budget))  # ceil(remaining / number of chunks)
        chunk = row.request.prompt_ids[row.fed : row.fed + size]
        try:
            logits = self.cache.prefill(slot, row.length, chunk)  # (V,)
        except Exception as e:  # an internal error: fail this request, keep serving the others
            log.exception("prefill of request %s failed", row.request.id)
            self._free(slot)
            row.request.deliver(e)
            return len(chunk)
        row.fed, row.length = row.fed + len(chunk), row.length + len(chunk)
        if row.fed == len(row.request.prompt_ids):
            self.ready += 1
            self._advance([slot], logits[None])  # (1, V)
        return len(chunk)

    def _decode(self) -> int:
        n = self.ready
        if n == 0:
            return 0
        ready = self.rows[:n]
        tokens = np.array([row.token for row in ready], np.int64)  # (n,)
        lengths = np.array([row.length for row in ready], np.int64)  # (n,)
        try:
            logits = self.cache.decode(tokens, lengths)  # (n, V)
        except Exception as e:  # an internal error: fail these requests, keep serving
            log.exception("decode of %d rows failed", n)
            for i in reversed(range(n)):
                self._free(i)
            for row in ready:
                row.request.deliver(e)
            return n
        for row in ready:
            row.length += 1
        self._advance(list(range(n)), logits)
        return n

    def _lone_row_draft(self) -> np.ndarray | None:
        """A prompt-lookup draft (k,) for the only row, if it is greedy, alone and its sequence offers one."""
        if not self.prompt_lookup or self.ready != 1 or len(self.rows) != 1:
            return None
        row = self.rows[0]
        if row.request.params.temperature > 0:
            return None
        if row.policy is None:
            row.policy = DraftPolicy(self.prompt_lookup)
        room = row.request.params.max_tokens - len(row.output) - 1  # the model's own token must still fit after it
        size = row.policy.next_size(room) if room > 0 else 0
        if not size:
            return None
        seq = np.array(row.request.prompt_ids + row.output, np.int64)  # (N,)
        draft = find_draft(seq, size, self.earlier.get(_task(row.request)))  # (≤ size,)
        if not row.request.params.ignore_eos:
            draft = before_eos(draft, self.eos)
        return draft if len(draft) else None

    def _verify(self, draft: np.ndarray) -> tuple[int, int]:
        """Feed the lone row's pending token and `draft` (k,) in one forward; keep the agreeing run and the model's
        next token. Returns (drafted, accepted)."""
        row = self.rows[0]
        try:
            logits = self.cache.extend(0, row.length, np.concatenate([[row.token], draft]))  # (1 + k, V)
        except Exception as e:  # an internal error: fail this request, keep serving
            log.exception("prompt-lookup verify of request %s failed", row.request.id)
            self._free(0)
            row.request.deliver(e)
            return 0, 0
        accepted = int(np.cumprod(logits[:-1].argmax(axis=-1) == draft).sum())
        row.policy.record(len(draft), accepted)
        row.length += 1 + accepted  # the rejected positions are overwritten by the next forward
        for i in range(accepted + 1):  # greedy: the choice from logits[i] is draft[i] while i < accepted
            self._advance([0], logits[i : i + 1])
            if not self.rows or self.rows[0] is not row:  # it finished (EOS or max_tokens)
                break
        return len(draft), accepted

    def _advance(self, slots: list[int], logits: np.ndarray) -> None:
        """Choose, deliver and record the next token of the rows in `slots` from logits (len(slots), V)."""
        requests = [self.rows[s].request for s in slots]
        tokens = choose_tokens(requests, logits)  # (len(slots),)
        done, events = [], []
        for s, z, token in zip(slots, logits, tokens.tolist()):
            row = self.rows[s]
            row.token = token
            row.output.append(token)
            reason = self._finish_reason(row, token)
            events.append((row.request, token_event(row.request, z, token, reason)))
            if reason is not None:
                done.append(s)
                if row.request.params.temperature == 0:
                    self.earlier.add(_task(row.request), row.output)
        for s in sorted(done, reverse=True):  # from the back: a moved row never lands on a slot still to free
            self._free(s)
        for request, event in events:  # after freeing: whoever sees a last event sees its slot free
            request.deliver(event)

    def _finish_reason(self, row: Row, token: int) -> str | None:
        params = row.request.params
        if token in self.eos and not params.ignore_eos:
            return "stop"
        return "length" if len(row.output) >= params.max_tokens else None

    def _free(self, slot: int) -> None:
        """Release `slot`; the last ready row fills the hole, then the prefilling row (if any) follows it down."""
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
            self.cache.move(source, target, self.rows[source].length)
            self.rows[target] = self.rows[source]


def _task(request: Request) -> str | None:
    """Whose earlier answers a request may draft from: its prefix's (by name), or the base model's."""
    return request.prefix.name if request.prefix is not None else None
