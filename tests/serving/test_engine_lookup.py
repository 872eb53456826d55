"""Prompt lookup in the serving engine: a greedy row alone drafts and verifies, and its tokens are `run`'s exactly.

As in tests/runtime/test_lookup.py, tiny random models rarely copy their input, so besides a repetitive prompt
(natural drafts) the drafter is replaced by an oracle proposing plain decoding's own continuation, whole or with a
wrong token: long accepted drafts, partial acceptance, drafts cut before an EOS or by max_tokens. Only the drafter
is replaced; the verify over the engine's KV slot is the code under test.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from engine_cases import GREEDY, WAIT, collect, mixed_cases, serving, single, submit_staggered
from lookup_oracle import ban, oracle
from tiny_models import FAMILIES

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime import lookup
from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.serving.engine.engine import SamplingParams, StepStats
from prefixdeploy.serving.engine.requests import ABORT_TOKEN

K = 6
N_NEW = 24
REPETITIVE = "the cat sat on the mat. the cat sat on the mat. the cat sat on the mat. the cat sat on"


def one_by_one(engine, requests: list[tuple[list[int], object, SamplingParams]]) -> list[tuple]:
    """Each request alone: submitted after the previous one finished."""

    async def run():
        return [await collect(engine.submit(ids, prefix, params)) for ids, prefix, params in requests]

    return asyncio.run(run())


def drafts(steps: list[StepStats]) -> tuple[int, int]:
    return sum(s.drafted for s in steps), sum(s.accepted for s in steps)


@pytest.mark.parametrize("kind", FAMILIES)
def test_a_lone_greedy_row_drafts_and_returns_run_s_tokens(tiny_bundle, kind, monkeypatch):
    with load_bundle(tiny_bundle("switchable", kind)) as b:
        ids = b.encode(REPETITIVE)
        truths = {name: single(b, ids, name, N_NEW, ignore_eos=True) for name in ("qa", None)}
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=4, prompt_lookup=K) as engine:
            engine.on_step = steps.append
            for name, truth in truths.items():
                params = SamplingParams(max_tokens=N_NEW, **GREEDY)
                assert one_by_one(engine, [(ids, b.prefixes.get(name), params)])[0][0] == truth  # natural drafts
                for wrong_at in (None, 5, 12):  # 5, 12: inside the 2nd and 3rd draft
                    steps.clear()
                    with monkeypatch.context() as patch:
                        oracle(patch, lookup, len(ids), truth, wrong_at)
                        assert one_by_one(engine, [(ids, b.prefixes.get(name), params)])[0][0] == truth
                    drafted, accepted = drafts(steps)
                    assert accepted >= (N_NEW - 2) // 2 and (accepted == drafted) == (wrong_at is None)


def test_drafts_stop_at_max_tokens_and_before_eos(tiny_bundle, monkeypatch):
    with load_bundle(tiny_bundle("switchable")) as b:
        ids, qa = b.encode(REPETITIVE), b.prefixes["qa"]
        truth = single(b, ids, "qa", N_NEW, ignore_eos=True)
        oracle(monkeypatch, lookup, len(ids), truth)
        with serving(b, max_num_seqs=2, prompt_lookup=K) as engine:
            every_length = [(ids, qa, SamplingParams(max_tokens=n, **GREEDY)) for n in range(1, N_NEW + 1)]
            for n, (tokens, reason, _) in enumerate(one_by_one(engine, every_length), start=1):
                assert tokens == truth[:n] and reason == "length"  # some drafts cut to fit, some end exactly at n
        eos_at = next(i for i in range(8, N_NEW) if truth[i] not in truth[:i])  # inside a fully accepted draft
        b.manifest = dataclasses.replace(b.manifest, eos_token_ids=[truth[eos_at]])
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=2, prompt_lookup=K) as engine:
            engine.on_step = steps.append
            [(tokens, reason, _)] = one_by_one(engine, [(ids, qa, SamplingParams(max_tokens=N_NEW, temperature=0))])
    assert tokens == truth[: eos_at + 1] and reason == "stop"
    assert all(s.drafted for s in steps if not s.prefill_tokens)  # every decode step verified a draft
    assert sum(s.drafted for s in steps) == eos_at - sum(1 for s in steps if s.drafted)  # never the EOS itself


def test_a_processor_is_honoured_by_the_verify(tiny_bundle, monkeypatch):
    """A row with a processor that bans a token of the drafted (unprocessed) continuation returns `run`'s tokens with
    the same processor: the verify accepts a draft token only where the processed choice equals it."""
    with load_bundle(tiny_bundle("switchable")) as b:
        ids, qa = b.encode(REPETITIVE), b.prefixes["qa"]
        free = single(b, ids, "qa", N_NEW, ignore_eos=True)
        processors = (ban(free[6]),)
        want = single(b, ids, "qa", N_NEW, ignore_eos=True, logits_processors=processors)
        oracle(monkeypatch, lookup, len(ids), free)
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=2, prompt_lookup=K) as engine:
            engine.on_step = steps.append
            params = SamplingParams(max_tokens=N_NEW, logits_processors=processors, **GREEDY)
            [(tokens, _, _)] = one_by_one(engine, [(ids, qa, params)])
    drafted, accepted = drafts(steps)
    assert free[6] not in want and tokens == want and accepted < drafted


def test_busy_batches_and_sampled_rows_decode_plainly_with_the_same_tokens(tiny_bundle):
    """Lookup on: 18 staggered requests (repetitive prompts among them) equal `run`'s greedy output; a sampled
    request alone gives the same tokens as with lookup off (it never drafts)."""
    with load_bundle(tiny_bundle("switchable")) as b:
        cases = mixed_cases(b, 16, seed=4) + [(b.encode(REPETITIVE), "qa", 30), (b.encode(REPETITIVE), None, 30)]
        want = [single(b, ids, name, n, ignore_eos=True) for ids, name, n in cases]
        sampled = (b.encode(REPETITIVE), b.prefixes["qa"], SamplingParams(max_tokens=16, temperature=0.8, seed=3))
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=4, prompt_lookup=K) as engine:
            engine.on_step = steps.append
            got = asyncio.run(submit_staggered(engine, b, cases, GREEDY))
            steps.clear()
            looked = one_by_one(engine, [sampled])[0][0]
            assert drafts(steps) == (0, 0)
        with serving(b, max_num_seqs=4) as engine:
            plain = one_by_one(engine, [sampled])[0][0]
    assert [tokens for tokens, _, _ in got] == want
    assert looked == plain


def test_lookup_history_drafts_from_a_prefix_s_earlier_greedy_answers(tiny_bundle):
    """The same request twice, alone: the second drafts from the first's answer (most of it accepted); the base model
    and sampled requests add nothing to the prefix's history."""
    with load_bundle(tiny_bundle("switchable")) as b:
        ids = b.encode("hello there")
        truth, base = (single(b, ids, name, N_NEW, ignore_eos=True) for name in ("qa", None))
        greedy, sampled = SamplingParams(max_tokens=N_NEW, **GREEDY), SamplingParams(max_tokens=N_NEW, temperature=1.0)
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=2, prompt_lookup=K, lookup_history=4) as engine:
            engine.on_step = steps.append
            first = one_by_one(engine, [(ids, None, greedy), (ids, b.prefixes["qa"], sampled)])
            steps.clear()
            [(tokens, _, _)] = one_by_one(engine, [(ids, b.prefixes["qa"], greedy)])
            alone = drafts(steps)
            steps.clear()
            [(again, _, _)] = one_by_one(engine, [(ids, b.prefixes["qa"], greedy)])
    assert first[0][0] == base and tokens == again == truth
    assert drafts(steps)[1] >= N_NEW // 2 > alone[1]


def test_prompt_lookup_refuses_a_graph_without_logits_to_keep_and_a_negative_k(tiny_bundle, monkeypatch):
    with load_bundle(tiny_bundle("switchable")) as b:
        with pytest.raises(PrefixDeployError, match="prompt_lookup must be between 0 "):
            with serving(b, prompt_lookup=-1):
                pass
        names = [n for n in b.backend.input_names() if n != io_names.LOGITS_TO_KEEP]  # as bundles exported before it
        monkeypatch.setattr(b.backend, "input_names", lambda: names)
        with pytest.raises(PrefixDeployError, match="exported before it: re-export the bundle"):
            with serving(b, prompt_lookup=K):
                pass


def test_with_ignore_eos_an_eos_is_drafted_and_accepted_like_any_token(tiny_bundle, monkeypatch):
    with load_bundle(tiny_bundle("switchable")) as b:
        ids, qa = b.encode(REPETITIVE), b.prefixes["qa"]
        truth = single(b, ids, "qa", N_NEW, ignore_eos=True)
        eos_at = next(i for i in range(8, N_NEW) if truth[i] not in truth[:i])
        b.manifest = dataclasses.replace(b.manifest, eos_token_ids=[truth[eos_at]])
        oracle(monkeypatch, lookup, len(ids), truth)
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=2, prompt_lookup=K) as engine:
            engine.on_step = steps.append
            [(tokens, reason, _)] = one_by_one(engine, [(ids, qa, SamplingParams(max_tokens=N_NEW, **GREEDY))])
    assert tokens == truth and reason == "length"
    assert drafts(steps)[0] == drafts(steps)[1] > eos_at - 1  # drafts ran through the EOS


def test_logprobs_under_lookup_equal_plain_decoding_s(tiny_bundle, monkeypatch):
    with load_bundle(tiny_bundle("switchable")) as b:
        ids, qa = b.encode(REPETITIVE), b.prefixes["qa"]
        truth = single(b, ids, "qa", N_NEW, ignore_eos=True)
        params = SamplingParams(max_tokens=N_NEW, logprobs=3, **GREEDY)
        with serving(b, max_num_seqs=2) as engine:
            [(_, _, plain)] = one_by_one(engine, [(ids, qa, params)])
        oracle(monkeypatch, lookup, len(ids), truth, wrong_at=7)
        with serving(b, max_num_seqs=2, prompt_lookup=K) as engine:
            [(_, _, looked)] = one_by_one(engine, [(ids, qa, params)])
    assert [e.token_id for e in plain] == [e.token_id for e in looked] == truth
    for p, q in zip(plain, looked):
        assert abs(p.logprob - q.logprob) < 1e-4 and [t for t, _ in p.top_logprobs] == [t for t, _ in q.top_logprobs]


def test_a_row_joining_or_aborting_around_drafts_leaves_every_output_exact(tiny_bundle, monkeypatch):
    """A lone row with a draft rejected at token 5, joined after 10 tokens by a second request (both then decode
    plainly); then a lone row aborted after 9 tokens, and a lone row again: each output equals `run`'s."""
    with load_bundle(tiny_bundle("switchable")) as b:
        ids, qa, other = b.encode(REPETITIVE), b.prefixes["qa"], b.encode("hello there, how are you doing today")
        truth, truth2 = single(b, ids, "qa", 40, ignore_eos=True), single(b, other, None, 30, ignore_eos=True)
        oracle(monkeypatch, lookup, len(ids), truth, wrong_at=5)

        async def scenario(engine):
            first, joined = [], None
            async for event in engine.submit(ids, qa, SamplingParams(max_tokens=40, **GREEDY)):
                first.append(event.token_id)
                if len(first) == 10:
                    joined = asyncio.create_task(
                        collect(engine.submit(other, None, SamplingParams(max_tokens=30, **GREEDY)))
                    )
            second = (await joined)[0]
            aborted = []
            stream = engine.submit(ids, qa, SamplingParams(max_tokens=40, **GREEDY))
            async for event in stream:
                aborted.append(event)
                if len(aborted) == 9:
                    stream.abort()
            again = (await collect(engine.submit(ids, qa, SamplingParams(max_tokens=40, **GREEDY))))[0]
            return first, second, aborted, again

        with serving(b, max_num_seqs=2, prompt_lookup=K) as engine:
            first, second, aborted, again = asyncio.run(asyncio.wait_for(scenario(engine), WAIT))
    assert first == truth and second == truth2 and again == truth
    cut = [e.token_id for e in aborted if e.token_id != ABORT_TOKEN]
    assert 9 <= len(cut) and cut == truth[: len(cut)]
    # the abort reaches the engine at its next step: the row may have finished all 40 tokens before that
    assert (aborted[-1].finish_reason, len(cut) < 40) in {("abort", True), ("length", False)}
