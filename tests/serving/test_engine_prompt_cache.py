"""The prompt cache on real ONNX Runtime sessions: a request that starts like a finished one prefills only the rest,
and its tokens still equal `prefixdeploy run`'s for the whole prompt (fp32 tiny models: exact)."""

from __future__ import annotations

import asyncio
import random

import pytest
from engine_cases import GREEDY, collect, serving, single
from tiny_models import FAMILIES

from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.serving.engine.engine import SamplingParams, StepStats


async def one(engine, bundle, ids: list[int], name: str | None, max_tokens: int) -> list[int]:
    stream = engine.submit(ids, bundle.prefixes.get(name), SamplingParams(max_tokens=max_tokens, **GREEDY))
    tokens, _, _ = await collect(stream)
    return tokens


@pytest.mark.parametrize("kind", FAMILIES)
@pytest.mark.parametrize("mixed_steps", [False, True])
def test_a_conversation_s_next_turn_reuses_the_last_one_and_answers_as_run_does(tiny_bundle, kind, mixed_steps):
    """Turn 1, then turn 1 + its answer + new tokens (a chat's next turn), the same prompt again, and turn 1 under
    another prefix: each equals `prefixdeploy run`; the cache held the prompt and the answer but its last token,
    then the prompt but its last token, then nothing (another prefix)."""
    with load_bundle(tiny_bundle("switchable", kind), mixed_steps=mixed_steps) as b:
        name, other = sorted(b.prefixes)[:2]
        rnd = random.Random(5)
        first = [rnd.randrange(3, b.manifest.vocab_size) for _ in range(23)]
        steps: list[StepStats] = []

        async def conversation(engine):
            answer = await one(engine, b, first, name, 9)
            turn = first + answer + [rnd.randrange(3, b.manifest.vocab_size) for _ in range(6)]
            again = [await one(engine, b, turn, n, 12) for n in (name, name, other)]
            return answer, turn, again

        with serving(b, max_num_seqs=2) as engine:
            engine.on_step = steps.append
            answer, turn, got = asyncio.run(conversation(engine))
        assert answer == single(b, first, name, 9, ignore_eos=True)
        assert got[:2] == [single(b, turn, name, 12, ignore_eos=True)] * 2
        assert got[2] == single(b, turn, other, 12, ignore_eos=True)
    assert [s.cached for s in steps if s.cached] == [len(first) + len(answer) - 1, len(turn) - 1]


def test_many_clients_with_shared_starts_through_few_slots_keep_every_output(tiny_bundle):
    """36 requests at once, each one of 4 openings plus its own tokens under a prefix or none, through 6 slots with
    7-token chunks: rows leave in every order, sequences are copied aside and taken back, and every output equals
    `prefixdeploy run`'s."""
    with load_bundle(tiny_bundle("switchable")) as b:
        rnd = random.Random(11)
        vocab, names = b.manifest.vocab_size, [*sorted(b.prefixes), None]
        openings = [[rnd.randrange(3, vocab) for _ in range(rnd.randrange(4, 20))] for _ in range(4)]
        cases = []
        for _ in range(36):
            ids = rnd.choice(openings) + [rnd.randrange(3, vocab) for _ in range(rnd.randrange(0, 6))]
            cases.append((ids, rnd.choice(names), rnd.randrange(1, 12)))
        want = [single(b, ids, name, n, ignore_eos=True) for ids, name, n in cases]
        steps: list[StepStats] = []

        async def staggered(engine):
            tasks = []
            for i, (ids, name, n) in enumerate(cases):
                tasks.append(asyncio.create_task(one(engine, b, ids, name, n)))
                if i % 4 == 3:
                    await asyncio.sleep(0.01)
            return await asyncio.gather(*tasks)

        with serving(b, max_num_seqs=6, max_prefill_tokens=7) as engine:
            engine.on_step = steps.append
            got = asyncio.run(staggered(engine))
    assert got == want
    assert sum(s.cached for s in steps) > 0


def test_without_the_cache_every_prompt_is_prefilled_whole(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as b:
        ids = list(range(3, 30))
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=2, prompt_cache=False) as engine:
            engine.on_step = steps.append
            got = asyncio.run(asyncio.wait_for(_twice(engine, b, ids), 60))
        assert got == [single(b, ids, None, 5, ignore_eos=True)] * 2
    assert not any(s.cached for s in steps) and sum(s.prefill_tokens for s in steps) == 2 * len(ids)


async def _twice(engine, bundle, ids):
    return [await one(engine, bundle, ids, None, 5) for _ in range(2)]
