"""The scheduler's policy, step by step, with no model and no clock: admission, chunked prefill, aborts, slot
compaction, fairness. The executor is a stand-in that keeps what each slot holds and answers with fixed tokens; the
outputs of the real executor are checked against single requests in test_engine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from prefixdeploy.serving.engine.requests import Request, SamplingParams, make_choices
from prefixdeploy.serving.engine.scheduler import IDLE_PREFILL_TOKENS, Scheduler
from prefixdeploy.serving.engine.work import DecodeWork, MixedWork, Outcome, PrefillWork, VerifyWork

CHUNK = 7
V = 16  # vocabulary of the stand-in's logits
EOS = 2


class SlotsStandIn:
    """What the executor would do to the KV slots, as bookkeeping: which request fills each slot and how many
    positions (a fork's slot holds its first choice's copy); every choice is `token`, a verify accepts its whole
    draft, and every logit asked for is flat (each prompt token's logprob is -log V)."""

    def __init__(self, scheduler: Scheduler, token: int = 5):
        self.scheduler, self.token = scheduler, token
        self.held: dict[int, list] = {}  # slot -> [request, filled positions]
        self.works: list = []

    def __call__(self, work) -> Outcome | tuple[Outcome, Outcome]:
        self.works.append(work)
        for source, target in work.moves:
            self.held[target] = list(self.held[source])
        if isinstance(work, MixedWork):  # a chunk and the decode in one forward: an outcome for each
            return self(dataclasses.replace(work.prefill, moves=())), self(dataclasses.replace(work.decode, moves=()))
        if isinstance(work, PrefillWork):
            if work.seed:  # at execution the scheduler's rows are the planned ones: slot i is rows[i]
                self.held[work.slot] = [self.scheduler.rows[work.slot].request, 0]
            self.held[work.slot][1] += len(work.ids)
            n, scored = 1 + len(work.forks), len(work.ids) - (work.choice is not None)
            prompt = np.zeros((scored, V), np.float32) if work.every_logit else None  # (t, V)
            if work.choice is None:
                return Outcome(prompt_logits=prompt)
            return Outcome([self.token] * n, np.zeros((n, V), np.float32), prompt)
        if isinstance(work, VerifyWork):
            self.held[work.slot][1] += 1 + len(work.draft)
            tokens = [*work.draft.tolist(), self.token]
            return Outcome(tokens, np.zeros((len(tokens), V), np.float32))
        for slot in range(len(work.tokens)):
            self.held[slot][1] += 1
        return Outcome([self.token] * len(work.tokens), np.zeros((len(work.tokens), V), np.float32))


def scheduler(slots: int = 4, idle: int = IDLE_PREFILL_TOKENS, **options) -> Scheduler:
    return Scheduler(slots, CHUNK, [EOS], idle_prefill_tokens=idle, **options)


def request(length: int, max_tokens: int = 20, **params) -> Request:
    """A queued request (its first choice; with n > 1 the others are its `siblings`); each choice's `events`."""
    ids = [(7 * i + 3) % V for i in range(length)]
    sampling = SamplingParams(max_tokens=max_tokens, ignore_eos=True, temperature=0.0, **params)
    logs = [[] for _ in range(sampling.n)]
    choices = make_choices(ids, None, sampling, [log.append for log in logs], [])
    for choice, log in zip(choices, logs):
        choice.events = log
    return choices[0]


def every_choice(requests: list[Request]) -> list[Request]:
    return [choice for r in requests for choice in (r, *r.siblings)]


def feeder(requests: list[Request]):
    """The engine's queue: the first request, when it has the slots it needs (one per choice)."""
    return lambda free: requests.pop(0) if requests and requests[0].slots <= free else None


def test_a_burst_on_an_idle_engine_starts_one_row_whole_and_chunks_the_rest():
    s = scheduler()
    slots = SlotsStandIn(s)
    waiting = [request(n) for n in (15, 9, 20)]
    steps = [s.step(feeder(waiting), slots) for _ in range(6)]
    # the first prompt whole; then, while it decodes, 7-token chunks: 9 as 5 + 4, 20 as 7 + 7 + 6
    assert [(t.prefill_tokens, t.stalled, t.rows) for t in steps] == [
        (15, 0, 1),
        (5, 1, 1),
        (4, 1, 2),
        (7, 2, 2),
        (7, 2, 2),
        (6, 2, 3),
    ]


def test_while_rows_decode_a_prompt_goes_in_even_chunks_one_per_step():
    s = scheduler()
    slots = SlotsStandIn(s)
    s.step(feeder([request(4)]), slots)  # one row decoding from now on
    waiting = [request(15)]
    chunks = [s.step(feeder(waiting), slots) for _ in range(4)]
    assert [(c.prefill_tokens, c.stalled) for c in chunks] == [(5, 1), (5, 1), (5, 1), (0, 0)]  # not 7 + 7 + 1
    assert [c.rows for c in chunks] == [1, 1, 2, 2]  # it joins the decoding rows the step its prompt is in


def test_the_idle_budget_bounds_one_step():
    s = scheduler(idle=30)
    slots = SlotsStandIn(s)
    waiting = [request(40), request(5)]
    steps = [s.step(feeder(waiting), slots) for _ in range(3)]
    # 40 tokens over a budget of 30 go as 20 + 20 (no row decodes yet); then the next prompt waits for a 7-token chunk
    assert [(t.prefill_tokens, t.stalled, t.rows) for t in steps] == [(20, 0, 0), (20, 0, 1), (5, 1, 2)]


def test_several_prompts_share_an_idle_step_s_budget_and_all_decode_in_it():
    """With max_prefill_prompts > 1 a burst on an idle engine goes in while a quarter of the idle budget is left, each
    prompt a forward of its own; they all decode in that step. Then the decoding rows' budget (7) takes the rest."""
    s = scheduler(slots=6, idle=40, max_prefill_prompts=8)
    slots = SlotsStandIn(s)
    waiting = [request(9) for _ in range(5)]
    first = s.step(feeder(waiting), slots)
    assert (first.prefill_tokens, first.stalled, first.rows) == (36, 0, 4)  # 4 × 9; 4 tokens left < 40 // 4
    assert [type(w) for w in slots.works] == [PrefillWork] * 4 + [DecodeWork]
    second = s.step(feeder(waiting), slots)
    assert (second.prefill_tokens, second.stalled, second.rows) == (5, 4, 4)  # 9 tokens as 5 + 4


@pytest.mark.parametrize("mixed_steps", [False, True])
def test_while_rows_decode_prompts_share_the_step_s_budget_the_last_maybe_partial(mixed_steps):
    """A budget of 12 while a row decodes: prompts of 4 and 4 go in whole, the third's first 3 tokens (6 as 3 + 3:
    at most the 4 left) follow, and no more than 12 tokens stall the decoding row. With mixed steps the first prompt
    runs in the decode's forward and the others after it."""
    s = Scheduler(4, 12, [EOS], max_prefill_prompts=4, mixed_steps=mixed_steps)
    slots = SlotsStandIn(s)
    s.step(feeder([request(2)]), slots)
    waiting, start = [request(4), request(4), request(6)], len(slots.works)
    step = s.step(feeder(waiting), slots)
    assert (step.prefill_tokens, step.stalled) == (11, 1)
    kinds = [type(w) for w in slots.works[start:]]  # the stand-in logs a mixed work, then its two parts
    mixed = [MixedWork, PrefillWork, DecodeWork, PrefillWork, PrefillWork]
    assert kinds == (mixed if mixed_steps else [PrefillWork] * 3 + [DecodeWork])
    assert s.ready == 3 and s.rows[3].fed == 3  # the row of 6 is mid-prefill; it continues next step
    assert s.step(feeder(waiting), slots).prefill_tokens == 3


def test_admission_is_first_come_and_bounded_by_the_slots():
    s = scheduler(slots=2)
    slots = SlotsStandIn(s)
    waiting = [request(3, max_tokens=50) for _ in range(4)]
    order = list(waiting)
    for _ in range(5):
        s.step(feeder(waiting), slots)
    assert [row.request for row in s.rows] == order[:2] and waiting == order[2:]  # two slots: the rest wait


def test_every_decoding_row_gets_one_token_per_step():
    """Fairness: a step decodes all ready rows together; no row is skipped while another gets two."""
    s = scheduler()
    slots = SlotsStandIn(s)
    waiting = [request(n, max_tokens=30) for n in (3, 12, 20, 4)]
    for _ in range(12):
        before = {id(row.request): len(row.output) for row in s.rows[: s.ready]}
        s.step(feeder(waiting), slots)
        after = {id(row.request): len(row.output) for row in s.rows}
        assert all(after[k] == n + 1 for k, n in before.items())


@pytest.mark.parametrize("prompts", [1, 3])
@pytest.mark.parametrize("mixed_steps", [False, True])
def test_rows_that_leave_are_compacted_and_each_slot_keeps_its_row_s_cache(mixed_steps, prompts):
    """Rows finishing or aborted at different steps: the last ready row (and the prefilling row) move down into the
    hole; once the executor has applied a work's moves, every slot it touches holds its row's positions. With mixed
    steps, the chunk and the decode run as one work, and a row that finishes in it may move the prefilled row; with
    several prompts a step, each prefill applies the moves owed before it."""
    s = scheduler(slots=5, mixed_steps=mixed_steps, max_prefill_prompts=prompts)
    slots = SlotsStandIn(s)
    lengths, budgets, choices = (3, 5, 9, 11, 30, 4), (2, 9, 4, 14, 8, 1), (1, 3, 1, 2, 1, 4)
    waiting = [request(n, max_tokens=m, n=c) for n, m, c in zip(lengths, budgets, choices)]
    everyone, checked, moved, mixes = every_choice(waiting), [0], [0], [0]

    def execute(work):
        for source, target in work.moves:  # what the stand-in is about to do, checked before the forward
            slots.held[target] = list(slots.held[source])
            moved[0] += 1
        parts = [work.prefill, work.decode] if isinstance(work, MixedWork) else [work]
        mixes[0] += isinstance(work, MixedWork)
        for part in parts:
            touched = [part.slot] if isinstance(part, PrefillWork) else range(len(part.tokens))
            for i in touched:
                row = s.rows[i]
                if not (isinstance(part, PrefillWork) and part.seed):
                    assert slots.held[i][0].prompt_ids is row.request.prompt_ids  # its own, or its first choice's
                    assert slots.held[i][1] == row.fed + max(0, len(row.output) - 1)  # the pending token is unfed
                    checked[0] += 1
        if isinstance(work, MixedWork):
            return slots(MixedWork(*(dataclasses.replace(part, moves=()) for part in parts)))
        return slots(dataclasses.replace(work, moves=()))

    for step in range(40):
        if step == 6:
            s.rows[1].request.aborted = True
        s.step(feeder(waiting), execute)
        assert s.ready <= len(s.rows) <= s.ready + 1
    assert not s.rows and not waiting and checked[0] > 20 and moved[0] >= 2
    assert (mixes[0] > 3) == mixed_steps
    assert sorted(r.events[-1].finish_reason for r in everyone) == sorted(["length"] * 11 + ["abort"])


def test_an_aborted_row_mid_prefill_frees_its_slot_and_the_queue_moves_on():
    s = scheduler(slots=1)
    slots = SlotsStandIn(s)
    long, short = request(40), request(3, max_tokens=2)
    waiting = [long, short]
    s.step(feeder(waiting), slots)  # idle: 40 goes whole (under the idle budget)
    long.aborted = True
    stats = [s.step(feeder(waiting), slots) for _ in range(3)]
    assert long.events[-1].finish_reason == "abort"
    assert short.events[-1].finish_reason == "length" and [e.token_id for e in short.events] == [5, 5]
    assert stats[0].prefill_tokens == 3 and not s.rows


def test_an_executor_error_fails_only_that_work_s_rows():
    s = scheduler(slots=2)
    ok, bad = request(3, max_tokens=3), request(4, max_tokens=3)
    slots = SlotsStandIn(s)

    def execute(work):
        if isinstance(work, PrefillWork) and work.ids == bad.prompt_ids:
            return Outcome(error=RuntimeError("injected"))
        return slots(work)

    waiting = [ok, bad]
    for _ in range(4):
        s.step(feeder(waiting), execute)
    assert isinstance(bad.events[-1], RuntimeError)
    assert ok.events[-1].finish_reason == "length" and not s.rows


def test_a_lone_greedy_row_is_verified_and_a_sampled_or_batched_one_is_not():
    def works(*requests: Request) -> list[type]:
        s, waiting = scheduler(prompt_lookup=4), list(requests)
        slots = SlotsStandIn(s, token=4)  # the sequence goes on "… 1 3 4": its 3-gram occurred, "1 3" followed
        s.step(feeder(waiting), slots)
        s.step(feeder(waiting), slots)
        return slots.works

    repetitive = [1, 3, 4, 1, 3, 4, 1, 3]
    alone = works(Request(repetitive, None, SamplingParams(max_tokens=8, temperature=0.0), lambda e: None))
    assert [type(w) for w in alone] == [PrefillWork, VerifyWork, VerifyWork]
    assert alone[1].token == 4 and alone[1].draft.tolist() == [1, 3]  # the first draft is 2 tokens
    sampled = Request(repetitive, None, SamplingParams(max_tokens=8, temperature=0.7, seed=1), lambda e: None)
    assert [type(w) for w in works(sampled)] == [PrefillWork, DecodeWork, DecodeWork]
    two = [Request(repetitive, None, SamplingParams(max_tokens=8, temperature=0.0), lambda e: None) for _ in "ab"]
    # the first is alone (the second still waits), then the second prefills beside it and they decode together
    assert [type(w) for w in works(*two)] == [PrefillWork, VerifyWork, PrefillWork, DecodeWork]


def test_n_choices_prefill_once_then_fork_into_n_rows_that_decode_together():
    """One prefill for the prompt; its last chunk chooses every choice's first token (each with its own choice
    object); the forks' slots get the prompt's KV as copies from its slot before the next forward."""
    s = scheduler(slots=4)
    slots = SlotsStandIn(s)
    first = request(20, max_tokens=3, n=3)
    s.step(feeder([first]), slots)
    prefill, decode = slots.works
    assert isinstance(prefill, PrefillWork) and prefill.ids == first.prompt_ids and prefill.slot == 0
    assert prefill.choice is first.choice and prefill.forks == tuple(r.choice for r in first.siblings)
    assert decode.moves == ((0, 1), (0, 2)) and len(decode.tokens) == 3  # copies, then all three decode
    assert [row.request for row in s.rows] == [first, *first.siblings] and s.ready == 3
    assert all(slots.held[i] == [first, 21] for i in range(3))  # the prompt (20) and the first token, in every slot
    s.step(feeder([]), slots)
    assert not s.rows and all([e.token_id for e in c.events] == [5, 5, 5] for c in every_choice([first]))
    assert sum(isinstance(w, PrefillWork) for w in slots.works) == 1


def test_a_request_of_n_choices_waits_for_n_free_slots_and_is_not_overtaken():
    s = scheduler(slots=3)
    slots = SlotsStandIn(s)
    running = [request(3, max_tokens=8), request(3, max_tokens=4)]  # two of the three slots, for a few steps
    three, one = request(5, max_tokens=6, n=3), request(2, max_tokens=2)
    waiting = [*running, three, one]
    for _ in range(3):
        s.step(feeder(waiting), slots)
        assert three in waiting and one in waiting  # a slot is free (from the second step), but three come first
    while three in waiting:
        s.step(feeder(waiting), slots)
    assert [row.request for row in s.rows] == [three, *three.siblings] and waiting == [one]  # all three slots
    for _ in range(12):
        s.step(feeder(waiting), slots)
    assert not s.rows and all(c.events[-1].finish_reason == "length" for c in every_choice([*running, three, one]))


def test_a_choice_aborted_before_the_fork_leaves_after_it_and_a_fully_aborted_prefill_stops():
    s = scheduler(slots=4)
    slots = SlotsStandIn(s)
    some = request(30, max_tokens=5, n=3)
    s.step(feeder([request(2, max_tokens=30)]), slots)  # a decoding row: the 30-token prompt goes in chunks
    waiting = [some]
    s.step(feeder(waiting), slots)
    some.aborted = some.siblings[1].aborted = True  # the first choice among them: its prefill goes on for choice 1
    for _ in range(8):
        s.step(feeder(waiting), slots)
    for gone in (some, some.siblings[1]):  # forked, then dropped at the next step (the fork's step decoded once)
        assert [e.finish_reason for e in gone.events] == [None, None, "abort"]
    assert [e.token_id for e in some.siblings[0].events] == [5] * 5
    everyone = request(30, max_tokens=5, n=2)
    waiting = [everyone]
    s.step(feeder(waiting), slots)
    assert s.rows[-1].request is everyone and s.ready == len(s.rows) - 1  # mid-prefill
    everyone.aborted = everyone.siblings[0].aborted = True
    stats = s.step(feeder(waiting), slots)
    assert stats.prefill_tokens == 0 and everyone not in [row.request for row in s.rows]
    assert all([e.finish_reason for e in c.events] == ["abort"] for c in every_choice([everyone]))


def test_prompt_logprobs_come_with_each_choice_s_first_token_whatever_the_chunks():
    """Every chunk of a row that wants its prompt's logprobs asks for every position's logits; the prompt's
    first token has none; each choice's first event carries the whole prompt's (the stand-in's flat logits)."""
    s = scheduler(slots=4)
    slots = SlotsStandIn(s)
    s.step(feeder([request(2, max_tokens=30)]), slots)  # a decoding row: the prompt goes in 7-token chunks
    scored = request(19, max_tokens=2, n=2, prompt_logprobs=2)
    waiting = [scored]
    for _ in range(4):
        s.step(feeder(waiting), slots)
    prefills = [w for w in slots.works if isinstance(w, PrefillWork) and w.ids != [3, 10]]
    assert [len(w.ids) for w in prefills] == [7, 6, 6] and all(w.every_logit for w in prefills)
    for choice in every_choice([scored]):
        first, second = choice.events[:2]
        assert second.prompt_logprobs is None and len(first.prompt_logprobs) == 19
        assert [p.token_id for p in first.prompt_logprobs] == scored.prompt_ids
        assert first.prompt_logprobs[0].logprob is None and first.prompt_logprobs[0].top is None
        assert all(np.isclose(p.logprob, -np.log(V)) and len(p.top) == 2 for p in first.prompt_logprobs[1:])
    plain = slots.works[0]
    assert not plain.every_logit
