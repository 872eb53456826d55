"""The engine's n choices per prompt and its prompt logprobs, on real ONNX Runtime sessions.

n choices: one prefill, then a row per choice; each greedy choice equals the single request, each seeded sampled
choice i equals `prefixdeploy run` with seed + i (vLLM's per-choice seeds), in busy batches with other requests.
Prompt logprobs: teacher-forced, checked against `Bundle.score` (numpy over the runtime's logits, one token per
step), whole or chunked.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from engine_cases import GREEDY, WAIT, StepGate, collect, mixed_cases, serving, single

from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.processors import Penalties
from prefixdeploy.serving.engine.engine import SamplingParams


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as b:
        yield b


async def submit_all(engine, bundle, cases, params: dict, n_of) -> list[list[tuple]]:
    """Every case with n_of(i) choices, staggered; per case, each choice's (tokens, reason, events)."""
    groups = []
    for i, (ids, name, max_tokens) in enumerate(cases):
        sampling = SamplingParams(max_tokens=max_tokens, n=n_of(i), **params)
        streams = engine.submit_choices(ids, bundle.prefixes.get(name), sampling)
        groups.append(asyncio.gather(*(collect(stream) for stream in streams)))
        if i % 3 == 2:
            await asyncio.sleep(0.005)
    return [list(group) for group in await asyncio.gather(*groups)]


def test_each_greedy_choice_equals_the_single_request_in_a_busy_batch(bundle):
    """12 requests of 1–3 choices through 4 slots (a request of 3 waits for 3 free slots), chunked prefill:
    every choice equals the request's single greedy output."""
    cases = mixed_cases(bundle, 12, seed=3)
    want = [single(bundle, ids, name, n, ignore_eos=True) for ids, name, n in cases]
    with serving(bundle, max_num_seqs=4, max_prefill_tokens=7) as engine:
        got = asyncio.run(submit_all(engine, bundle, cases, GREEDY, lambda i: 1 + i % 3))
        assert engine.running == engine.waiting == 0
    for i, choices in enumerate(got):
        assert len(choices) == 1 + i % 3
        assert [tokens for tokens, _, _ in choices] == [want[i]] * len(choices), i


@pytest.mark.parametrize(
    "sampling, processors",
    [
        ({"temperature": 0.9, "seed": 11}, ()),
        ({"temperature": 0.7, "top_p": 0.8, "top_k": 20, "seed": 2**63 - 2}, ()),
        ({"temperature": 1.2, "top_p": 0.9, "min_p": 0.05, "seed": 8}, ()),
        ({"temperature": 0.9, "seed": 5, "frequency_penalty": 0.8}, "penalty"),
    ],
    ids=["plain", "filters at the largest seed", "min_p after top_p", "own processors"],
)
def test_seeded_choice_i_equals_the_run_command_with_seed_plus_i(bundle, sampling, processors):
    """vLLM's rule: choice i of a request with seed s samples as a request of seed s + i alone; processors are
    per choice (a penalty sees its own choice's output)."""
    cases = mixed_cases(bundle, 6, seed=4)
    n = 3
    with serving(bundle, max_num_seqs=8, max_prefill_tokens=7) as engine:
        got = asyncio.run(submit_all(engine, bundle, cases, sampling | {"ignore_eos": True}, lambda i: n))
    for (ids, name, max_tokens), choices in zip(cases, got):
        seed = sampling["seed"]
        run = {k: v for k, v in sampling.items() if k in ("temperature", "top_p", "top_k", "min_p")}
        own = (Penalties(ids, frequency=sampling["frequency_penalty"]),) if processors else ()
        want = [
            single(bundle, ids, name, max_tokens, seed=seed + i, ignore_eos=True, logits_processors=own, **run)
            for i in range(n)
        ]
        assert [tokens for tokens, _, _ in choices] == want
    assert any(len(set(map(tuple, (t for t, _, _ in choices)))) > 1 for choices in got)  # the choices differ


def test_n_above_the_rows_is_refused_and_submit_wants_one_choice(bundle):
    with serving(bundle, max_num_seqs=2) as engine:

        async def refused():
            with pytest.raises(ConfigError, match="n: 3 choices need 3 rows") as e:
                engine.submit_choices([5, 6], None, SamplingParams(max_tokens=2, n=3))
            assert e.value.fields == ("n",)
            with pytest.raises(ConfigError, match="submit_choices"):
                engine.submit([5, 6], None, SamplingParams(max_tokens=2, n=2))
            with pytest.raises(ConfigError, match="submit_choices"):
                engine.submit_sync([5, 6], None, SamplingParams(max_tokens=2, n=2))

        asyncio.run(refused())
        assert engine.waiting == 0


def test_a_queued_request_of_n_choices_aborted_by_every_consumer_leaves_the_queue(bundle):
    """Held between steps with the only slot busy, a request of two choices waits; aborting one choice keeps it
    queued, aborting both ends both streams with "abort" and the engine goes on."""
    gate = StepGate(after=1)
    with serving(bundle, max_num_seqs=2) as engine:
        engine.on_step = gate

        async def run():
            busy = engine.submit([5, 6, 7], None, SamplingParams(max_tokens=30, **GREEDY))
            await gate.reached()
            first, second = engine.submit_choices([8, 9], None, SamplingParams(max_tokens=4, n=2, **GREEDY))
            first.abort()
            assert engine.waiting == 1
            second.abort()
            gate.release()
            return await collect(first), await collect(second), await collect(busy)

        a, b, busy = asyncio.run(asyncio.wait_for(run(), WAIT))
    assert a[1] == b[1] == "abort" and a[0] == b[0] == []
    assert busy[1] == "length" and len(busy[0]) == 30


@pytest.mark.parametrize("chunk, company", [(256, False), (7, True)], ids=["whole", "chunked beside a decoding row"])
@pytest.mark.parametrize("name", ["qa", None])
def test_prompt_logprobs_equal_the_runtime_s_teacher_forced_scores(bundle, chunk, company, name):
    ids = [(37 * i + 11) % (bundle.manifest.vocab_size - 3) + 3 for i in range(26)]
    scores = bundle.score(ids, name)  # logprobs (25,) of ids[1:], and the greedy choice at each
    with serving(bundle, max_num_seqs=4, max_prefill_tokens=chunk) as engine:

        async def run():
            other = engine.submit([4, 5, 6], None, SamplingParams(max_tokens=20, **GREEDY)) if company else None
            params = SamplingParams(max_tokens=3, prompt_logprobs=3, n=2, **GREEDY)
            streams = engine.submit_choices(ids, bundle.prefixes.get(name), params)
            got = [await collect(stream) for stream in streams]
            if other is not None:
                await collect(other)
            return got

        got = asyncio.run(run())
    for tokens, _, events in got:
        assert tokens == single(bundle, ids, name, 3, ignore_eos=True)  # the tokens are unchanged
        prompt = events[0].prompt_logprobs
        assert all(e.prompt_logprobs is None for e in events[1:])
        assert [p.token_id for p in prompt] == ids and prompt[0].logprob is None and prompt[0].top is None
        np.testing.assert_allclose([p.logprob for p in prompt[1:]], scores.logprobs, atol=2e-4)
        assert [p.top[0][0] for p in prompt[1:]] == scores.argmax.tolist()
        assert all(len(p.top) == 3 and p.top[0][1] >= p.logprob - 1e-9 for p in prompt[1:])


def test_prompt_logprobs_of_a_one_token_prompt_are_its_null_entry(bundle):
    with serving(bundle, max_num_seqs=2) as engine:

        async def run():
            return await collect(engine.submit([9], None, SamplingParams(max_tokens=1, prompt_logprobs=0, **GREEDY)))

        _, _, events = asyncio.run(run())
    (entry,) = events[0].prompt_logprobs
    assert (entry.token_id, entry.logprob, entry.top) == (9, None, None)
