"""The prompt cache in the scheduler, with no model: a stand-in executor keeps each slot's tokens, and every forward
checks that its slot holds exactly what its row has fed (a reused slot included). That the real engine's outputs do
not change with the cache is checked against `prefixdeploy run` in test_engine.py and test_load.py."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from prefixdeploy.serving.engine.prompt_cache import PromptCache
from prefixdeploy.serving.engine.requests import SamplingParams, make_choices
from prefixdeploy.serving.engine.scheduler import Scheduler
from prefixdeploy.serving.engine.work import DecodeWork, MixedWork, Outcome, PrefillWork

V = 16
TOKEN = 5  # every choice of the stand-in


class Task:
    """A stand-in prefix: its identity is what the cache compares (the scheduler also reads its name)."""

    name = "task"


class TokenSlots:
    """The executor as bookkeeping: slot -> [prefix, tokens fed, cache salt of the request that filled it]. Before
    every forward it checks that each slot it reads holds its row's prefix and exactly the tokens its row has fed, and
    that a cached start comes from a request with the same salt."""

    def __init__(self, scheduler: Scheduler):
        self.s = scheduler
        self.held: dict[int, list] = {}
        self.prefills: list[PrefillWork] = []

    def __call__(self, work):
        for source, target in work.moves:
            prefix, tokens, salt = self.held[source]
            self.held[target] = [prefix, list(tokens), salt]
        if isinstance(work, MixedWork):
            return self(dataclasses.replace(work.prefill, moves=())), self(dataclasses.replace(work.decode, moves=()))
        if isinstance(work, PrefillWork):
            return self._prefill(work)
        assert isinstance(work, DecodeWork)
        for i, token in enumerate(work.tokens.tolist()):
            row = self.s.rows[i]
            assert self.held[i][0] is row.request.prefix
            assert self.held[i][1] == row.request.prompt_ids + row.output[:-1] and token == row.output[-1]
            self.held[i][1].append(token)
        return Outcome([TOKEN] * len(work.tokens), np.zeros((len(work.tokens), V), np.float32))

    def _prefill(self, work: PrefillWork) -> Outcome:
        self.prefills.append(work)
        row = self.s.rows[work.slot]
        salt = row.request.params.cache_salt
        if work.seed and work.cached:
            prefix, tokens, their_salt = self.held[work.slot]
            assert prefix is work.prefix and tokens[: work.cached] == row.request.prompt_ids[: work.cached]
            assert their_salt == salt
            self.held[work.slot] = [prefix, tokens[: work.cached], salt]
        elif work.seed:
            self.held[work.slot] = [work.prefix, [], salt]
        assert self.held[work.slot][0] is row.request.prefix
        assert self.held[work.slot][1] == row.request.prompt_ids[: row.fed]
        self.held[work.slot][1] += work.ids
        if work.choice is None:
            return Outcome()
        n = 1 + len(work.forks)
        return Outcome([TOKEN] * n, np.zeros((n, V), np.float32))


def request(ids: list[int], max_tokens: int = 3, prefix=None, **params):
    sampling = SamplingParams(max_tokens=max_tokens, ignore_eos=True, temperature=0.0, **params)
    logs = [[] for _ in range(sampling.n)]
    choices = make_choices(list(ids), prefix, sampling, [log.append for log in logs], [])
    for choice, log in zip(choices, logs):
        choice.events = log
    return choices[0]


def feeder(waiting: list):
    return lambda free: waiting.pop(0) if waiting and waiting[0].slots <= free else None


def run(s: Scheduler, slots: TokenSlots, waiting: list, steps: int = 40) -> list:
    stats = []
    for _ in range(steps):
        stats.append(s.step(feeder(waiting), slots))
        if not waiting and not s.rows:
            break
    return stats


def cached_scheduler(slots: int = 4, **options) -> Scheduler:
    return Scheduler(slots, 7, [2], prompt_cache=True, **options)


PROMPT = [3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9]


def test_a_prompt_that_continues_a_finished_request_prefills_only_what_is_new():
    """A chat's next turn: the earlier prompt, the answer, then new text. The slot holds the prompt and the answer
    but its last token (never fed), so those are reused and the rest is prefilled."""
    s = cached_scheduler()
    slots = TokenSlots(s)
    run(s, slots, [request(PROMPT, max_tokens=3)])  # answer: 5, 5, 5
    turn = request(PROMPT + [TOKEN, TOKEN, TOKEN, 7, 12])
    stats = run(s, slots, [turn])
    first = slots.prefills[-1]
    assert (first.seed, first.cached, first.ids) == (True, len(PROMPT) + 2, [TOKEN, 7, 12])
    assert stats[0].cached == len(PROMPT) + 2 and stats[0].prefill_tokens == 3
    assert turn.cached_tokens == len(PROMPT) + 2  # what the usage reports


def test_the_same_prompt_again_feeds_its_last_token_only():
    s = cached_scheduler()
    slots = TokenSlots(s)
    run(s, slots, [request(PROMPT)])
    run(s, slots, [request(PROMPT)])
    assert (slots.prefills[-1].cached, slots.prefills[-1].ids) == (len(PROMPT) - 1, PROMPT[-1:])


def test_a_burst_with_the_same_start_copies_it_from_the_first_row_while_that_row_decodes():
    """Three prompts of the same 11-token start at once: the first is prefilled whole; each next one, admitted while
    the rows before it decode, copies the start from a decoding row's slot and prefills its own 2 tokens."""
    s = cached_scheduler()
    slots = TokenSlots(s)
    burst = [request(PROMPT + [i, i + 1], max_tokens=6) for i in (1, 4, 7)]
    stats = run(s, slots, burst)
    assert [(p.cached, len(p.ids)) for p in slots.prefills] == [(0, 13), (11, 2), (11, 2)]
    assert [p.moves for p in slots.prefills[1:]] == [((0, 1),), ((0, 2),)]  # copied from the first row's slot
    assert sum(t.cached for t in stats) == 22


def test_another_prefix_a_new_prefix_object_or_no_cache_prefill_the_whole_prompt():
    task, other = Task(), Task()
    for first, second, cache in ((task, other, True), (task, None, True), (task, task, False)):
        s = Scheduler(4, 7, [2], prompt_cache=cache)
        slots = TokenSlots(s)
        run(s, slots, [request(PROMPT, prefix=first)])
        run(s, slots, [request(PROMPT, prefix=second)])
        assert (slots.prefills[-1].cached, slots.prefills[-1].ids) == (0, PROMPT)


@pytest.mark.parametrize(
    ("first", "second", "hit"),
    [
        ({}, {"cache_salt": "a"}, False),
        ({"cache_salt": "a"}, {}, False),
        ({"cache_salt": "a"}, {"cache_salt": "b"}, False),
        ({"cache_salt": "a"}, {"cache_salt": "a"}, True),
    ],
)
def test_a_cache_salt_shares_a_slot_only_with_the_same_salt(first, second, hit):
    """vLLM's cache_salt: without the salt of the request that left a slot, nobody starts from it (a request
    without one only from those without one)."""
    s = cached_scheduler()
    slots = TokenSlots(s)
    run(s, slots, [request(PROMPT, **first)])
    run(s, slots, [request(PROMPT, **second)])
    assert slots.prefills[-1].cached == (len(PROMPT) - 1 if hit else 0)


def test_a_burst_shares_a_decoding_row_s_start_only_under_the_same_salt():
    s = cached_scheduler()
    slots = TokenSlots(s)
    burst = [request(PROMPT + [i], max_tokens=6, cache_salt=salt) for i, salt in ((1, "a"), (2, "b"), (3, "a"))]
    run(s, slots, list(burst))
    assert [r.cached_tokens for r in burst] == [0, 0, len(PROMPT)]  # the third from the first row's slot
    assert slots.prefills[-1].moves == ((0, 2),)


@pytest.mark.parametrize("params", [{"prompt_logprobs": 1}, {"cache_prompt": False}])
def test_a_request_scoring_its_prompt_or_opting_out_feeds_all_of_it(params):
    s = cached_scheduler()
    slots = TokenSlots(s)
    run(s, slots, [request(PROMPT)])
    run(s, slots, [request(PROMPT, **params)])
    assert slots.prefills[-1].cached == 0 and slots.prefills[-1].ids == PROMPT


def test_a_row_that_leaves_a_hole_is_copied_to_a_free_slot_and_found_there():
    """Rows 0-2 decode; row 1 finishes first, so row 2 moves into its slot: row 1's sequence is copied into the last
    free slot first (4), and a later request that starts like it is admitted from there."""
    s = cached_scheduler(slots=5)
    slots = TokenSlots(s)
    short = request(PROMPT, max_tokens=3)
    run(s, slots, [request([1, 2, 3], max_tokens=12), short, request([4, 5], max_tokens=12)], steps=4)
    assert not any(row.request is short for row in s.rows) and list(s.cache.kept) == [4]
    run(s, slots, [request(PROMPT + [TOKEN, 9])])
    assert slots.prefills[-1].cached == len(PROMPT) + 1  # the prompt and the answer's first token


def test_two_conversations_taking_turns_both_stay_cached():
    """One row at a time, so every admission takes slot 0: the entry slot 0 kept is first copied aside to an empty
    slot, so the first conversation's next turn still finds its start after the second's turn."""
    s = cached_scheduler(slots=4)
    slots = TokenSlots(s)
    other = [7, 7, 1, 2, 3, 4, 5, 6]
    run(s, slots, [request(PROMPT)])
    run(s, slots, [request(other)])
    assert slots.prefills[-1].moves == ((0, 3),)  # PROMPT's entry set aside into the last empty slot
    turn = request(PROMPT + [TOKEN, TOKEN, 9])
    run(s, slots, [turn])
    assert turn.cached_tokens == len(PROMPT) + 2
    assert any(e.tokens[:2].tolist() == other[:2] for e in s.cache.kept.values())  # the other one, set aside again


def test_an_entry_set_aside_replaces_only_an_older_one():
    """Two slots, three conversations one after another: each admission sets slot 0's entry aside over slot 1's,
    which is older, so the last two conversations stay and the first is gone."""
    s = cached_scheduler(slots=2)
    slots = TokenSlots(s)
    conversations = [PROMPT, [7, 7, 1, 2, 3], [9, 8, 7, 6]]
    for ids in conversations:
        run(s, slots, [request(ids)])
    turns = [request(ids + [TOKEN, TOKEN, 1]) for ids in (conversations[1], conversations[0])]
    run(s, slots, [turns[0]])
    run(s, slots, [turns[1]])
    assert [t.cached_tokens for t in turns] == [len(conversations[1]) + 2, 0]


def test_when_every_slot_holds_a_row_a_finishing_row_that_leaves_a_hole_is_not_kept():
    s = cached_scheduler(slots=2)
    slots = TokenSlots(s)
    run(s, slots, [request(PROMPT, max_tokens=4), request([1, 2, 3], max_tokens=9)], steps=3)
    assert len(s.rows) == 1 and s.rows[0].request.prompt_ids == [1, 2, 3] and not s.cache.kept


def test_aborted_rows_are_not_kept():
    s = cached_scheduler()
    slots = TokenSlots(s)
    r = request(PROMPT, max_tokens=9)
    run(s, slots, [r], steps=2)
    r.aborted = True
    run(s, slots, [], steps=1)
    assert not s.rows and not s.cache.kept


@pytest.mark.parametrize("mixed_steps", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_random_traffic_every_forward_reads_exactly_its_row_s_tokens(seed, mixed_steps):
    """Prompts built from shared pieces under two prefixes and none, two cache salts and none, several choices,
    aborts, more requests than slots: the stand-in's checks hold at every forward, every request ends, and the cache
    is used."""
    rng = random.Random(seed)
    tasks, salts = [Task(), Task(), None], [None, None, "a", "b"]
    pieces = [[rng.randrange(V) for _ in range(rng.randint(1, 9))] for _ in range(5)]
    s = cached_scheduler(slots=5, mixed_steps=mixed_steps, max_prefill_prompts=rng.choice([1, 3]))
    slots = TokenSlots(s)
    waiting, everyone, cached = [], [], 0
    for _ in range(400):
        if len(everyone) < 60 and rng.random() < 0.4:
            ids = [t for _ in range(rng.randint(1, 4)) for t in rng.choice(pieces)]
            r = request(
                ids, rng.randint(1, 6), rng.choice(tasks), n=rng.choice([1, 1, 1, 2]), cache_salt=rng.choice(salts)
            )
            waiting.append(r)
            everyone += [r, *r.siblings]
        if s.rows and rng.random() < 0.05:
            rng.choice(s.rows).request.aborted = True
        cached += s.step(feeder(waiting), slots).cached
        if len(everyone) >= 60 and not waiting and not s.rows:
            break
    assert all(r.events and r.events[-1].finish_reason in ("length", "abort") for r in everyone)
    assert cached > 0


def test_the_cache_prefers_the_longest_match_and_replaces_the_least_recently_used():
    cache, task = PromptCache(), Task()
    cache.keep(4, task, None, [1, 2, 3])
    cache.keep(5, task, None, [1, 2, 3, 4, 5])
    cache.keep(6, None, None, [1, 2, 3, 4, 5, 6])
    assert cache.best(task, None, [1, 2, 3, 4, 9], range(4, 8)) == (5, 4)
    assert cache.best(task, None, [1, 2, 3, 9], range(4, 5)) == (4, 3)
    assert cache.best(task, None, [1, 2, 3, 4], range(5, 8)) == (5, 3)  # never the last prompt token
    assert cache.best(task, None, [7, 1], range(4, 8)) is None
    assert cache.best(task, "salt", [1, 2, 3, 4, 9], range(4, 8)) is None
    assert cache.spare(range(4, 9)) == 8  # the last empty slot first
    assert cache.spare(range(4, 7)) == 6  # then the least recently used (4 and 5 were taken since)
    del task  # a prefix that is gone matches nothing, not even a request without one
    assert cache.best(None, None, [1, 2, 3, 4, 9], range(4, 6)) is None
